"""Instruction-following difficulty (IFD) of instruction records under a small causal LM."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.core.columns import MESSAGES, set_column
from pipeline.core.registry import register
from pipeline.core.rows import Check, threshold_checks
from scorers.answer_end import ends_on_link, leaves_sentence_open
from scorers.answer_lm import AnswerLMParams, AnswerLMScorer
from scorers.causal_lm import span_nll, torch_threads

CLOSERS = (".", "!", "?", "\n", ".\n")


class Pieces(NamedTuple):
    """Token ids of one record's last answer and what precedes and ends it."""

    prompt: list[int]
    alone: list[int]
    answer: list[int]
    end: list[int]
    whole: bool  # False when the answer was cut to max_response_tokens


@register("ifd")
class InstructionFollowingDifficulty(AnswerLMScorer):
    """IFD (Cherry LLM, Li et al. 2024, https://arxiv.org/abs/2308.12032; Superfiltering,
    https://arxiv.org/abs/2402.00530): how much a record's prompt helps a small causal LM
    predict its last answer, PPL(answer | prompt) / PPL(answer). Under 1 the prompt helps; at
    1 or more it does not (a mismatched or unrelated answer), and the record is rejected. Among
    the rest, a high IFD marks an instruction the model finds hard to follow: Superfiltering
    keeps the top 5-15% (`keep_top`). The prompt is every turn before the last assistant turn,
    rendered with the model's chat template (or `### Instruction:`/`### Response:`). Two
    figures spot a cut answer: `end_prob`, the probability that the model would end the answer,
    or its sentence, right where it stops mid-sentence (an end-of-turn token, `.`, `!`, `?`, a
    newline; null where no sentence is left open: after a sentence mark, a label of up to 5
    words, a list of short items), and `end_turn_prob`, the probability of the end-of-turn
    token itself there (vanishing where a step-by-step answer stops before its last step).
    Both are null for an answer ending on a link or longer than `max_response_tokens`.

    Reads `_messages` (instruction records); adds `ifd`, `ppl_response`,
    `ppl_response_given_prompt`, `end_prob`, `end_turn_prob`. Reasons: ifd>=R, end_prob<R,
    end_turn_prob<R, ppl_response_given_prompt>R.
    """

    outputs = {
        "ifd": pa.float32(),
        "ppl_response": pa.float32(),
        "ppl_response_given_prompt": pa.float32(),
        "end_prob": pa.float32(),
        "end_turn_prob": pa.float32(),
    }
    score_column = "ifd"
    decision_params = AnswerLMScorer.decision_params | {
        "max_ifd",
        "min_end_prob",
        "min_end_turn_prob",
        "max_ppl_given_prompt",
    }

    class Params(AnswerLMParams):
        max_tokens: int = Field(
            1024, gt=8, description="Prompt and answer tokens per record (the prompt is cut first)."
        )
        max_response_tokens: int = Field(512, gt=1, description="Answer tokens scored at most.")
        max_ifd: float | None = Field(1.0, gt=0, description="Reject IFD at or above this.")
        min_end_prob: float | None = Field(
            None, ge=0, le=1, description="Reject answers the model would not end where they stop."
        )
        min_end_turn_prob: float | None = Field(
            None, ge=0, le=1, description="Reject answers whose turn the model would not end there."
        )
        max_ppl_given_prompt: float | None = Field(
            None, gt=0, description="Reject answers this surprising even given their prompt."
        )

    params: Params

    def setup(self) -> None:
        super().setup()
        # An answer may end with its turn or with a sentence end the text leaves out.
        marks = [self._tokenizer(m, add_special_tokens=False)["input_ids"] for m in CLOSERS]
        end = self._pieces(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
        )
        self._closing = sorted(
            {ids[0] for ids in marks if len(ids) == 1} | set(end.end if end else [])
        )

    def score(self, batch: pa.Table) -> pa.Table:
        records = batch[MESSAGES].to_pylist()
        with_prompt, alone, spans_with, spans_alone, all_pieces = [], [], [], [], []
        for turns in records:
            pieces = self._pieces(turns)
            all_pieces.append(pieces)
            if pieces is None:
                continue
            prompt_ids, alone_ids, answer_ids, end_ids, _ = pieces
            with_prompt.append(prompt_ids + answer_ids + end_ids)
            spans_with.append((len(prompt_ids), len(prompt_ids) + len(answer_ids) + len(end_ids)))
            alone.append(alone_ids + answer_ids)
            spans_alone.append((len(alone_ids), len(alone_ids) + len(answer_ids)))
        pad = self._tokenizer.pad_token_id
        size = self.forward_batch()
        with torch_threads(round(self.worker_resources().cpus)):
            given, closed = span_nll(
                self._model, with_prompt, spans_with, self._device, size, pad, self._closing
            )
            bare, _ = span_nll(self._model, alone, spans_alone, self._device, size, pad)
        values = np.full((len(records), len(self.outputs)), np.nan, np.float32)
        found = iter(zip(given, bare, closed, strict=True))
        for row, pieces in enumerate(all_pieces):
            if pieces is None:
                continue
            nll_given, nll_bare, end = next(found)
            ppl_given = float(np.exp(nll_given[: len(pieces.answer)].mean()))
            ppl_bare = float(np.exp(nll_bare.mean()))
            scores = {"ifd": ppl_given / ppl_bare, "ppl_response": ppl_bare}
            scores["ppl_response_given_prompt"] = ppl_given
            answer = records[row][-1]["content"]
            if pieces.whole and pieces.end and not ends_on_link(answer):
                scores["end_turn_prob"] = np.exp(-nll_given[-1])
                if leaves_sentence_open(answer):
                    scores["end_prob"] = end
            values[row] = [scores.get(column, np.nan) for column in self.outputs]
        for column, value in zip(self.outputs, values.T, strict=True):
            batch = set_column(batch, column, pa.array(value, pa.float32()))
        return batch

    def _pieces(self, turns: list[dict[str, str]] | None) -> Pieces | None:
        """Token ids of the last assistant turn and its context; None when there is no answer
        to score."""
        if not turns or turns[-1]["role"] != "assistant" or not turns[-1]["content"]:
            return None
        context, answer = turns[:-1], turns[-1]["content"]
        encode = self._tokenizer
        answer_ids = encode(answer, add_special_tokens=False)["input_ids"]
        whole = len(answer_ids) <= self.params.max_response_tokens
        answer_ids = answer_ids[: self.params.max_response_tokens]
        (prompt, end), (alone, _) = self.render(context), self.render([])
        ids = [encode(t, add_special_tokens=False)["input_ids"] for t in (prompt, alone, end)]
        bos = self.bos()
        prompt_ids, alone_ids, end_ids = bos + ids[0], bos + ids[1], ids[2][:1]
        room = self.params.max_tokens - len(answer_ids) - len(end_ids)
        if room < 1:
            return None
        return Pieces(prompt_ids[-room:], alone_ids[-room:], answer_ids, end_ids, whole)

    def checks(self, scored: pa.Table) -> list[Check]:
        p = self.params
        found = []
        if p.max_ifd is not None:
            ifd = np.nan_to_num(scored["ifd"].to_numpy(zero_copy_only=False), nan=-1.0)
            found.append(Check(ifd >= p.max_ifd, f"ifd>={p.max_ifd:g}"))
        found += threshold_checks(scored["end_prob"], "end_prob", p.min_end_prob, None)
        found += threshold_checks(
            scored["end_turn_prob"], "end_turn_prob", p.min_end_turn_prob, None
        )
        found += threshold_checks(
            scored["ppl_response_given_prompt"],
            "ppl_response_given_prompt",
            None,
            p.max_ppl_given_prompt,
        )
        return found
