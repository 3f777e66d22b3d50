"""DCLM-style quality classifier: a bigram fastText model giving P(high quality)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import set_column, text_list
from pipeline.core.errors import ModelNotFoundError
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.models import load_fasttext


def fasttext_input(texts: list[str]) -> list[str]:
    """Lowercased single-line texts, as the classifier is trained and applied."""
    return [" ".join(t.lower().split()) for t in texts]


@register("quality_classifier")
class QualityClassifier(Scorer):
    """Probability that a row looks like the positive (reference / instruction) text a fastText
    classifier was trained on (DCLM, Li et al. 2024, https://arxiv.org/abs/2406.11794).
    Train one with `tamis train quality`.

    Reads the text column; adds `quality_score` in [0, 1]. Reasons with `min` / `max`:
    quality_score<R, quality_score>R.
    """

    requires = (Requirement("fasttext", "fasttext-numpy2-wheel==0.9.2", "models"),)
    resources = Resources(cpus=1, memory_gb=0.5)
    batch_size = 2048
    outputs = {"quality_score": pa.float32()}
    score_column = "quality_score"
    decision_params = Scorer.decision_params | {"min", "max"}

    class Params(ScorerParams):
        model: str = Field(
            "quality-demo", description="Trained model: name in models/, path or hub id."
        )
        positive_label: str = Field("hq", description="The label whose probability is the score.")
        min: float | None = Field(None, ge=0, le=1, description="Lowest quality_score kept.")
        max: float | None = Field(None, ge=0, le=1, description="Highest quality_score kept.")

    params: Params

    def setup(self) -> None:
        self._model: Any = load_fasttext(self.params.model)
        self._label = f"__label__{self.params.positive_label}"
        if self._label not in self._model.get_labels():
            known = ", ".join(label.removeprefix("__label__") for label in self._model.get_labels())
            raise ModelNotFoundError(
                f"quality model {self.params.model!r} has no label {self.params.positive_label!r} "
                f"(labels: {known}); set positive_label"
            )

    def score(self, batch: pa.Table) -> pa.Table:
        texts = fasttext_input(text_list(batch, self.params.text_column))
        if not texts:
            return set_column(batch, "quality_score", pa.array([], pa.float32()))
        labels, probs = self._model.predict(texts, k=-1)
        # k=-1 returns every label per row, ordered by probability: pick the positive one.
        mine = np.array(labels) == self._label
        score = (np.asarray(probs, dtype=np.float32) * mine).sum(axis=1)
        return set_column(batch, "quality_score", pa.array(np.clip(score, 0, 1)))

    def checks(self, scored: pa.Table) -> list[Check]:
        return threshold_checks(
            scored["quality_score"], "quality_score", self.params.min, self.params.max
        )
