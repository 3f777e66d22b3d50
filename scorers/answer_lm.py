"""What steps that score an instruction record's last answer with a small causal LM share."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from scorers.base import Requirement, Resources, Scorer, ScorerParams
from scorers.causal_lm import load_causal_lm, pick_device, pick_dtype

MARK = "\u2063TAMIS-ANSWER\u2063"  # stands for the answer when a template is rendered
PLAIN_PREFIX = "### Instruction:\n{prompt}\n\n### Response:\n"


class AnswerLMParams(ScorerParams):
    """Parameters every answer-scoring language model step takes (ifd, coherence): the model
    and how it runs; each adds its own token limits and thresholds."""

    model: str = Field("smollm2-135m", description="Packaged name, local folder or hub id.")
    template: Literal["auto", "chat", "plain"] = Field(
        "auto", description="auto: the model's chat template when it has one, else plain."
    )
    forward_batch: int | None = Field(
        None,
        gt=0,
        description="Records per forward pass (default: 1 on CPU, where it costs nothing "
        "and keeps each score independent of its neighbours; 16 on CUDA).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA if present.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="auto: bfloat16 on CUDA and on CPUs with bf16 matrix units, else "
        "float32 (scores within ~3% of float32's).",
    )

    @model_validator(mode="after")
    def _room_for_prompt(self) -> AnswerLMParams:
        # an answer filling max_tokens would leave no room for its prompt: scored as null
        limit, answer = (
            getattr(self, "max_tokens", None),
            getattr(self, "max_response_tokens", None),
        )
        if limit is not None and answer is not None and answer > limit - 2:
            raise ValueError(
                f"max_response_tokens ({answer}) must be below max_tokens ({limit}) by 2 or "
                "more: the prompt and the end of turn need room"
            )
        return self


class AnswerLMScorer(Scorer):
    """Loads the model on its device, renders the turns before an answer (chat template or
    `### Instruction:`/`### Response:`) and sizes forward passes; subclasses score."""

    requires = (
        Requirement("torch", "torch==2.13.0", "models"),
        Requirement("transformers", "transformers", "models"),
        Requirement("gguf", "gguf", "models"),
    )
    resources = Resources(cpus=1, memory_gb=2, auto_gpus=1)
    batch_size = 64
    requires_records: ClassVar[bool] = True
    decision_params = Scorer.decision_params | {"device", "forward_batch"}
    Params = AnswerLMParams
    params: AnswerLMParams

    def setup(self) -> None:
        self._device = pick_device(self.params.device)
        dtype = pick_dtype(self.params.dtype, self._device)
        self._tokenizer, self._model = load_causal_lm(self.params.model, self._device, dtype)
        chat = self.params.template != "plain" and bool(self._tokenizer.chat_template)
        if self.params.template == "chat" and not chat:
            from pipeline.core.errors import ModelNotFoundError

            raise ModelNotFoundError(f"model {self.params.model!r} has no chat template")
        self._chat = chat

    def forward_batch(self) -> int:
        """Sequences per forward pass: as set, else 16 on CUDA and 1 on CPU."""
        return self.params.forward_batch or (16 if self._device == "cuda" else 1)

    def bos(self) -> list[int]:
        """The BOS token the plain template starts with (a chat template has its own)."""
        bos = self._tokenizer.bos_token_id
        return [bos] if not self._chat and bos is not None else []

    def render(self, context: list[dict[str, str]]) -> tuple[str, str]:
        """(what precedes an answer to `context`, what ends the answer's turn)."""
        if not self._chat:
            prompt = "\n\n".join(t["content"] for t in context)
            before = PLAIN_PREFIX.format(prompt=prompt) if context else ""
            return before, self._tokenizer.eos_token or ""
        turns = [*context, {"role": "assistant", "content": MARK}]
        text = self._tokenizer.apply_chat_template(turns, tokenize=False)
        before, _, after = text.partition(MARK)
        return before, after
