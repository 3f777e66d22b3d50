"""Sentence embeddings with sentence-transformers (all-MiniLM-L6-v2 by default), on torch."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from pipeline.core.columns import embedding_array, embedding_matrix, set_column, text_list
from pipeline.core.registry import register
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.models import PACKAGED, loading, resolve_model

__all__ = ["SentenceEmbedder", "embedding_array", "embedding_matrix"]


@register("embed")
class SentenceEmbedder(Scorer):
    """Unit-length sentence embedding of each row's text (the first `max_tokens` word pieces),
    as a list<float32> column. Runs on CUDA when present (or asked), else CPU; on CUDA in float16
    with larger batches. Computed once, the column serves semantic dedup and diversity selection.

    Reads the text column; adds `embedding` (or the column set). Rejects nothing.
    """

    requires = (
        Requirement("torch", "torch==2.13.0", "models"),
        Requirement("sentence_transformers", "sentence-transformers", "models"),
    )
    resources = Resources(cpus=1, memory_gb=1, auto_gpus=1)
    batch_size = 1024  # rows per call; the model sees them in `encode_batch` sorted by length
    outputs = {"{column}": pa.list_(pa.float32())}
    decision_params = Scorer.decision_params | {"device", "encode_batch"}

    class Params(ScorerParams):
        model: str = Field("minilm", description="Packaged name, local folder or hub id.")
        column: str = Field("embedding", description="Output column.")
        max_tokens: int = Field(256, gt=1, description="Word pieces embedded per row.")
        encode_batch: int | None = Field(
            None, gt=0, description="Texts per forward pass; unset: 64 on CPU, 256 on CUDA."
        )
        dtype: Literal["auto", "float32", "float16"] = Field(
            "auto", description="Weights' precision; auto: float16 on CUDA, float32 on CPU."
        )
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present.")

        @model_validator(mode="after")
        def _no_ranking(self) -> SentenceEmbedder.Params:
            if self.keep_top is not None or self.keep_bottom is not None:
                raise ValueError("embeddings are not a score: keep_top / keep_bottom do not apply")
            return self

    params: Params

    def setup(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # one bar per worker would flood job logs

        wanted = self.params.device
        device = (
            "cuda"
            if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
            else "cpu"
        )
        setting = self.params.model
        local = setting in PACKAGED or Path(setting).exists()
        # sentence-transformers takes a str, not a Path.
        source = str(resolve_model(setting, suffixes=("",))) if local else setting
        with loading("sentence embedding model", source):
            self._model = SentenceTransformer(source, device=device)
        self._model.max_seq_length = self.params.max_tokens
        self._device = device
        half = self.params.dtype == "float16" or (self.params.dtype == "auto" and device == "cuda")
        if half:
            self._model.half()

    def score(self, batch: pa.Table) -> pa.Table:
        texts = text_list(batch, self.params.text_column)
        vectors = self.embed(texts)
        return set_column(batch, self.params.column, embedding_array(vectors))

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts) x dim) unit-length float32 embeddings."""
        self.ready()
        if not texts:
            dim = self._model.get_sentence_embedding_dimension() or 0
            return np.zeros((0, dim), np.float32)
        return self._model.encode(
            texts,
            batch_size=self.params.encode_batch or (256 if self._device == "cuda" else 64),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
