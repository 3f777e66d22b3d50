"""Chat models' end-of-turn tokens left at the end of answers, stripped."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa

from filters.base import Check, Filter
from pipeline.core.columns import MESSAGES, set_column
from pipeline.core.registry import register
from pipeline.io.records import answers_of, with_answers

END_TOKENS = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<eos>",
    "</s>",
)


def strip_end_tokens(answer: str) -> str:
    """`answer` without the end-of-turn tokens it ends on, with white space between them
    (unchanged when it ends on none, or is nothing else; `</s>` closing HTML's `<s>` on its
    line is not one)."""
    text = answer.rstrip()
    while True:
        token = next((t for t in END_TOKENS if text.endswith(t)), None)
        if token is None:
            break
        rest = text[: -len(token)]
        if token == "</s>" and "<s>" in rest[rest.rfind("\n") + 1 :]:
            break
        text = rest.rstrip()
    return text if text and text != answer.rstrip() else answer


@register("strip_end_tokens")
class StripEndTokens(Filter):
    """Strip end-of-turn tokens (`<|im_end|>`, `<|eot_id|>`, `<|end|>`, `<|endoftext|>`,
    `<end_of_turn>`, `</s>`) that a generator left at the very end of an answer, in every
    assistant turn, so that an otherwise whole answer is kept rather than rejected as
    `instruct_rules:template_residue`. Put it before `instruct_rules`. A token with text after
    it (a next turn run on), or an answer that is only tokens, is left for `instruct_rules` to
    reject. Rejects nothing.

    Reads and rewrites the records' own fields and `_messages`; adds `end_tokens_stripped`,
    the number of answers changed in each kept record.
    """

    requires_records: ClassVar[bool] = True

    def checks(self, batch: pa.Table) -> list[Check]:
        return []

    def output_columns(self) -> dict[str, pa.DataType]:
        return {"end_tokens_stripped": pa.int32()}

    def rewrite(self, kept: pa.Table) -> pa.Table:
        answers = [answers_of(turns) for turns in kept[MESSAGES].to_pylist()]
        stripped = [[strip_end_tokens(a) for a in record] for record in answers]
        changed = np.array(
            [sum(a != b for a, b in zip(x, y, strict=True)) for x, y in zip(answers, stripped)],
            dtype=np.int32,
        )
        if changed.any():
            kept = with_answers(kept, stripped)
        return set_column(kept, "end_tokens_stripped", pa.array(changed, pa.int32()))
