"""Perplexity under a small causal language model (SmolLM2-135M by default), on torch."""

from __future__ import annotations

from typing import Literal

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
    mean next-token negative log-likelihood. Runs on CUDA when present (or asked), else CPU.

    Reads the text column; adds `lm_perplexity`. Reasons: lm_perplexity>N, lm_perplexity<N.
    """

    requires = (
        Requirement("torch", "torch==2.13.0", "models"),
        Requirement("transformers", "transformers", "models"),
        Requirement("gguf", "gguf", "models"),
    )
    resources = Resources(cpus=1, memory_gb=2, auto_gpus=1)
    batch_size = 8
    outputs = {"lm_perplexity": pa.float32()}
    score_column = "lm_perplexity"
    decision_params = Scorer.decision_params | {"device", "max_perplexity", "min_perplexity"}

    class Params(ScorerParams):
        model: str = Field("smollm2-135m", description="Packaged name, local folder or hub id.")
        max_tokens: int = Field(512, gt=1, description="Tokens scored per row (the rest is cut).")
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present.")
        max_perplexity: float | None = Field(None, gt=0, description="Highest perplexity kept.")
        min_perplexity: float | None = Field(None, gt=0, description="Lowest perplexity kept.")

    params: Params

    def setup(self) -> None:
        self._device = pick_device(self.params.device)
        self._tokenizer, self._model = load_causal_lm(self.params.model, self._device)

    def score(self, batch: pa.Table) -> pa.Table:
        texts = text_list(batch, self.params.text_column)
        values = self.perplexities(texts) if texts else np.array([], np.float32)
        return set_column(batch, "lm_perplexity", pa.array(values, pa.float32()))

    def perplexities(self, texts: list[str]) -> np.ndarray:
        """exp(mean token NLL) per text; NaN where a text has fewer than two tokens."""
        import torch

        enc = self._tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.params.max_tokens,
        ).to(self._device)
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
