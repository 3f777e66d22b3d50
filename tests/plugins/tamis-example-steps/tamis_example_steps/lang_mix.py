"""A scorer: how mixed a document's languages are, line by line, with fastText language ID."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import set_column, text_list
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers import Requirement, Resources, Scorer, ScorerParams, resolve_model


@register("lang_mix")
class LangMix(Scorer):
    """Share of a document's lines (of `min_line_words` words or more) whose language differs
    from the whole document's, by fastText language ID (lid.176 by default): high for
    machine-translated spam and pages stitched from several languages.

    Reads the text column; adds `lang_mix` in [0, 1] (0 without such lines). Reason with
    `max_mix`: lang_mix>R.
    """

    requires = (Requirement("fasttext", "fasttext-numpy2-wheel==0.9.2", "models"),)
    resources = Resources(cpus=1, memory_gb=0.5)
    batch_size = 512
    outputs = {"lang_mix": pa.float32()}
    score_column = "lang_mix"
    decision_params = Scorer.decision_params | {"max_mix"}

    class Params(ScorerParams):
        model: str = Field("lid176", description="fastText language ID model.")
        min_line_words: int = Field(5, ge=1, description="Shorter lines are not judged.")
        max_mix: float | None = Field(None, ge=0, le=1, description="Highest lang_mix kept.")

    params: Params

    def setup(self) -> None:
        import fasttext

        self._model: Any = fasttext.load_model(str(resolve_model(self.params.model)))

    def score(self, batch: pa.Table) -> pa.Table:
        texts = text_list(batch, self.params.text_column)
        lines = [
            [ln for ln in t.splitlines() if len(ln.split()) >= self.params.min_line_words]
            for t in texts
        ]
        # One predict call for the documents and every judged line of the batch.
        flat = [" ".join(t.split()) for t in texts] + [
            " ".join(ln.split()) for doc in lines for ln in doc
        ]
        labels = [label[0] for label in self._model.predict(flat, k=1)[0]] if flat else []
        doc_lang, line_langs = labels[: len(texts)], iter(labels[len(texts) :])
        mix = np.zeros(len(texts), np.float32)
        for i, doc in enumerate(lines):
            langs = [next(line_langs) for _ in doc]
            if langs:
                mix[i] = sum(lang != doc_lang[i] for lang in langs) / len(langs)
        return set_column(batch, "lang_mix", pa.array(mix))

    def checks(self, scored: pa.Table) -> list[Check]:
        return threshold_checks(scored["lang_mix"], "lang_mix", None, self.params.max_mix)
