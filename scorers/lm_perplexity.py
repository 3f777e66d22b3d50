"""Perplexity under a small causal language model (SmolLM2-135M by default), on torch."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import set_column, text_list
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.causal_lm import load_causal_lm, pick_device


@register("lm_perplexity")
class CausalLmPerplexity(Scorer):
    """Perplexity of each row's first `max_tokens` tokens under a small causal LM: exp of the
    mean next-token negative log-likelihood. Runs on CUDA when present (or asked), else CPU; on
    CUDA in bfloat16 with larger forward batches, the next batch tokenised while the GPU works.

    Reads the text column; adds `lm_perplexity`. Reasons: lm_perplexity>N, lm_perplexity<N.
    """

    requires = (
        Requirement("torch", "torch==2.13.0", "models"),
        Requirement("transformers", "transformers", "models"),
        Requirement("gguf", "gguf", "models"),
    )
    resources = Resources(cpus=1, memory_gb=2, auto_gpus=1)
    batch_size = 64  # rows per call, sorted by length and cut into `forward_batch` passes
    outputs = {"lm_perplexity": pa.float32()}
    score_column = "lm_perplexity"
    decision_params = Scorer.decision_params | {
        "device",
        "forward_batch",
        "max_perplexity",
        "min_perplexity",
    }

    class Params(ScorerParams):
        model: str = Field("smollm2-135m", description="Packaged name, local folder or hub id.")
        max_tokens: int = Field(512, gt=1, description="Tokens scored per row (the rest is cut).")
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present.")
        dtype: Literal["auto", "float32", "bfloat16"] = Field(
            "auto", description="Weights' precision; auto: bfloat16 on CUDA, float32 on CPU."
        )
        forward_batch: int | None = Field(
            None, gt=0, description="Texts per forward pass; unset: 8 on CPU, 64 on CUDA."
        )
        max_perplexity: float | None = Field(None, gt=0, description="Highest perplexity kept.")
        min_perplexity: float | None = Field(None, gt=0, description="Lowest perplexity kept.")

    params: Params

    def setup(self) -> None:
        self._device = pick_device(self.params.device)
        dtype = self.params.dtype
        if dtype == "auto":  # CPU keeps float32: its scores stay those of every earlier run
            dtype = "bfloat16" if self._device == "cuda" else "float32"
        self._tokenizer, self._model = load_causal_lm(self.params.model, self._device, dtype)

    def score(self, batch: pa.Table) -> pa.Table:
        texts = text_list(batch, self.params.text_column)
        values = self.perplexities(texts) if texts else np.array([], np.float32)
        return set_column(batch, "lm_perplexity", pa.array(values, pa.float32()))

    def perplexities(self, texts: list[str]) -> np.ndarray:
        """exp(mean token NLL) per text; NaN where a text has fewer than two tokens."""
        size = self.params.forward_batch or (64 if self._device == "cuda" else 8)
        order = np.argsort([len(t) for t in texts], kind="stable")  # less padding per pass
        found = np.empty(len(texts), np.float32)
        for at, encoded in zip(range(0, len(texts), size), self._encoded(texts, order, size)):
            found[order[at : at + size]] = self._forward(encoded)
        return found

    def _encoded(self, texts: list[str], order: np.ndarray, size: int) -> Iterator[Any]:
        """Each pass's tokens, the next pass tokenised in a thread while the model runs."""

        def encode(at: int) -> Any:
            chosen = [texts[i] for i in order[at : at + size]]
            return self._tokenizer(
                chosen,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.params.max_tokens,
            )

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(encode, 0)
            for at in range(0, len(texts), size):
                encoded = pending.result()
                if at + size < len(texts):
                    pending = pool.submit(encode, at + size)
                yield encoded

    def _forward(self, encoded: Any) -> np.ndarray:
        """Perplexity of each text of one tokenised pass."""
        import torch

        enc = encoded.to(self._device)
        with torch.inference_mode():
            logits = self._model(**enc).logits[:, :-1].float()
        targets = enc["input_ids"][:, 1:]
        mask = enc["attention_mask"][:, 1:].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        counts = mask.sum(dim=1)
        mean = (nll * mask).sum(dim=1) / counts.clamp(min=1)
        ppl = torch.exp(mean).cpu().numpy().astype(np.float32)
        ppl[counts.cpu().numpy() == 0] = np.nan
        return ppl

    def checks(self, scored: pa.Table) -> list[Check]:
        p = self.params
        return threshold_checks(
            scored["lm_perplexity"], "lm_perplexity", p.min_perplexity, p.max_perplexity
        )
