"""CCNet-style document perplexity under a KenLM n-gram model over SentencePiece pieces."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import set_column, text_list
from pipeline.core.errors import ModelNotFoundError
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.ccnet import normalise, perplexity
from scorers.models import loading, resolve_model

BUCKETS = ("head", "middle", "tail")


@register("kenlm_perplexity")
class KenlmPerplexity(Scorer):
    """Perplexity of each document under a KenLM model, as in CCNet: the text is normalised,
    each line split into SentencePiece pieces and scored with <s>/</s>; perplexity is
    10 ** (-sum log10 P / (pieces + one </s> per line)). Lower means closer to the model's text
    (Wikipedia for `wiki-en`, trained by `make models` / `tamis train lm`).

    Reads the text column; adds `kenlm_perplexity` and, with `buckets`, `kenlm_bucket`
    (head / middle / tail at the 30th / 60th percentile of the model's reference set).
    Reasons: kenlm_perplexity>N, kenlm_perplexity<N.
    """

    requires = (
        Requirement("kenlm", "kenlm==0.3.0", "models"),
        Requirement("sentencepiece", "sentencepiece", "models"),
    )
    resources = Resources(cpus=1, memory_gb=1)
    batch_size = 512
    outputs = {"kenlm_perplexity": pa.float32(), "kenlm_bucket": pa.string()}
    optional_outputs = {"kenlm_bucket": "buckets"}
    score_column = "kenlm_perplexity"
    decision_params = Scorer.decision_params | {"max_perplexity", "min_perplexity"}

    class Params(ScorerParams):
        model: str = Field("wiki-en", description="Folder with model.bin, sp.model, card.json.")
        max_perplexity: float | None = Field(None, gt=0, description="Highest perplexity kept.")
        min_perplexity: float | None = Field(None, gt=0, description="Lowest perplexity kept.")
        buckets: bool = Field(False, description="Add kenlm_bucket from the card's cut-offs.")

    params: Params

    def setup(self) -> None:
        import kenlm
        import sentencepiece

        folder = resolve_model(self.params.model, suffixes=("",))
        missing = [f for f in ("model.bin", "sp.model") if not (folder / f).exists()]
        if missing:
            raise ModelNotFoundError(f"KenLM model folder {folder} lacks {', '.join(missing)}")
        with loading("KenLM model", folder / "model.bin"):
            self._lm: Any = kenlm.Model(str(folder / "model.bin"))
        with loading("SentencePiece model", folder / "sp.model"):
            self._sp: Any = sentencepiece.SentencePieceProcessor(
                model_file=str(folder / "sp.model")
            )
        card = folder / "card.json"
        self._cutoffs = (
            json.loads(card.read_text()).get("bucket_cutoffs") if card.exists() else None
        )
        if self.params.buckets and not self._cutoffs:
            raise ModelNotFoundError(
                f"{folder}/card.json has no bucket_cutoffs; retrain or turn buckets off"
            )

    def score(self, batch: pa.Table) -> pa.Table:
        values = np.array(
            [self.perplexity(t) for t in text_list(batch, self.params.text_column)], np.float32
        )
        batch = set_column(batch, "kenlm_perplexity", pa.array(values))
        if self.params.buckets:
            head, middle = self._cutoffs
            bucket = np.where(values <= head, "head", np.where(values <= middle, "middle", "tail"))
            batch = set_column(batch, "kenlm_bucket", pa.array(bucket.tolist(), pa.string()))
        return batch

    def perplexity(self, text: str) -> float:
        """CCNet perplexity of one document, line by line."""
        lines = [normalise(line) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            return float("nan")
        log_prob = tokens = 0.0
        for pieces in self._sp.encode(lines, out_type=str):
            log_prob += self._lm.score(" ".join(pieces), bos=True, eos=True)
            tokens += len(pieces) + 1
        return perplexity(log_prob, int(tokens))

    def checks(self, scored: pa.Table) -> list[Check]:
        p = self.params
        return threshold_checks(
            scored["kenlm_perplexity"], "kenlm_perplexity", p.min_perplexity, p.max_perplexity
        )
