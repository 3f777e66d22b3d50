"""A small classifier trained on an LLM's ratings (FineWeb-Edu style): a linear head on frozen
sentence embeddings, or fastText, saved by `tamis train classifier`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import embedding_matrix, set_column, text_list
from pipeline.core.errors import ModelNotFoundError
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.models import resolve_model

CARD = "card.json"
WEIGHTS = "head.npz"
FASTTEXT = "model.bin"


@dataclass(frozen=True)
class Head:
    """A linear head: ridge regression (one output) or logistic regression (one row per class);
    `predict` gives the score on the teacher's scale."""

    task: str  # "regression" or "classification"
    coef: np.ndarray  # (classes x dim), one row for regression
    intercept: np.ndarray  # (classes,)
    classes: np.ndarray  # class scores, low to high ([] for regression)
    low: float
    high: float

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Scores in [low, high]: the regression output, or the expected class score."""
        logits = vectors.astype(np.float32) @ self.coef.T.astype(np.float32) + self.intercept
        if self.task == "regression":
            return np.clip(logits[:, 0], self.low, self.high).astype(np.float32)
        if logits.shape[1] == 1:  # sklearn's binary form: one logit for the higher class
            logits = np.concatenate([np.zeros_like(logits), logits], axis=1)
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return (probs @ self.classes.astype(np.float32)).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Weights as plain arrays (no pickle)."""
        np.savez(
            folder / WEIGHTS,
            coef=self.coef,
            intercept=self.intercept,
            classes=self.classes,
            bounds=np.array([self.low, self.high]),
        )

    @classmethod
    def load(cls, folder: Path, task: str) -> Head:
        """The head saved in `folder`."""
        with np.load(folder / WEIGHTS, allow_pickle=False) as data:
            low, high = data["bounds"].tolist()
            return cls(task, data["coef"], data["intercept"], data["classes"], low, high)


def read_card(folder: Path) -> dict[str, Any]:
    """The model card of a trained classifier folder; one clear error if it is not one."""
    try:
        return json.loads((folder / CARD).read_text())
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(
            f"{folder}: not a classifier from `tamis train classifier` (no readable {CARD}: "
            f"{type(err).__name__})"
        ) from None


def fasttext_scores(model: Any, texts: list[str]) -> np.ndarray:
    """Expected score under a fastText model whose labels are `__label__<score>`."""
    from scorers.quality import fasttext_input

    if not texts:
        return np.zeros(0, np.float32)
    labels, probs = model.predict(fasttext_input(texts), k=-1)
    values = [
        sum(float(lab.removeprefix("__label__")) * p for lab, p in zip(row, ps))
        for row, ps in zip(labels, probs)
    ]
    return np.asarray(values, np.float32)


@register("embedding_classifier")
class EmbeddingClassifier(Scorer):
    """Score each row with a classifier trained on LLM ratings by `tamis train classifier`
    (FineWeb-Edu, Penedo et al. 2024, https://arxiv.org/abs/2406.17557): a linear head on
    frozen sentence embeddings (or fastText). An `embedding` column an earlier `embed` step
    made (with the same embedder) is reused instead of embedding again; CUDA when present.

    Reads the text column (or `embedding_column`); adds `column` (default `edu_score`, on the
    teacher's scale). Reasons with `min` / `max`: edu_score<R, edu_score>R.
    """

    requires = (
        Requirement("torch", "torch==2.13.0", "models"),
        Requirement("sentence_transformers", "sentence-transformers", "models"),
    )
    resources = Resources(cpus=1, memory_gb=1, auto_gpus=1)
    batch_size = 1024
    outputs = {"{column}": pa.float32()}
    decision_params = Scorer.decision_params | {"min", "max", "device"}

    class Params(ScorerParams):
        model: str = Field(
            "edu", description="Classifier folder from `tamis train classifier` (in models/)."
        )
        column: str = Field("edu_score", description="Output column.")
        embedding_column: str = Field(
            "embedding", description="Reuse this column of embeddings when a row has it."
        )
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present.")
        min: float | None = Field(None, description="Lowest score kept.")
        max: float | None = Field(None, description="Highest score kept.")

    params: Params

    @property
    def score_column(self) -> str:  # type: ignore[override]
        """The column keep_top / keep_bottom rank by: the output column."""
        return self.params.column

    def setup(self) -> None:
        folder = resolve_model(self.params.model, suffixes=("",))
        self._card = read_card(folder)
        self._embedder: Any = None
        if self._card["kind"] == "fasttext":
            from scorers.models import load_fasttext

            self._fasttext = load_fasttext(str(folder / FASTTEXT))
            return
        self._head = Head.load(folder, self._card["task"])
        from scorers.embedding import SentenceEmbedder

        self._embedder = SentenceEmbedder(
            model=self._card["embedder"],
            max_tokens=self._card["max_tokens"],
            device=self.params.device,
            text_column=self.params.text_column,
        )

    def score(self, batch: pa.Table) -> pa.Table:
        if self._card["kind"] == "fasttext":
            values = fasttext_scores(self._fasttext, text_list(batch, self.params.text_column))
        else:
            values = self._head.predict(self._vectors(batch))
        return set_column(batch, self.params.column, pa.array(values, pa.float32()))

    def _vectors(self, batch: pa.Table) -> np.ndarray:
        """Embeddings of the batch: the existing column when every row has one of the head's
        width, else computed."""
        column = self.params.embedding_column
        width = self._head.coef.shape[1]
        if column in batch.column_names and batch[column].null_count == 0 and batch.num_rows:
            vectors = embedding_matrix(batch[column])
            if vectors.shape[1] == width:
                return vectors
            raise ModelNotFoundError(
                f"embedding_classifier: column {column!r} holds {vectors.shape[1]}-d vectors, "
                f"the classifier needs {width}-d ({self._card['embedder']}); embed with that "
                "model or set embedding_column to another column"
            )
        return self._embedder.embed(text_list(batch, self.params.text_column))

    def checks(self, scored: pa.Table) -> list[Check]:
        column = self.params.column
        return threshold_checks(scored[column], column, self.params.min, self.params.max)
