"""Chat models' end-of-turn tokens left at the end of answers, stripped."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import regex

from filters.base import Check, Filter
from pipeline.core.columns import MESSAGES, set_column
from pipeline.core.registry import register
from pipeline.io.records import with_answers

# One or more end-of-turn or end-of-sequence tokens, then only white space, at an answer's end
# (`</s>` not after HTML's `<s>` on its line).
END_TOKENS = regex.compile(
    r"(?:\s*(?:<\|(?:im_end|endoftext|eot_id|end)\|>|<end_of_turn>|<eos>|(?<!<s>[^\n]*)</s>))+\s*\Z"
)


def strip_end_tokens(answer: str) -> str:
    """`answer` without the end-of-turn tokens it ends on (unchanged when it ends on none)."""
    return END_TOKENS.sub("", answer)


@register("strip_end_tokens")
class StripEndTokens(Filter):
    """Strip end-of-turn tokens (`<|im_end|>`, `<|eot_id|>`, `<|end|>`, `<|endoftext|>`,
    `<end_of_turn>`, `</s>`) that a generator left at the very end of an answer, in every
    assistant turn, so that an otherwise whole answer is kept rather than rejected as
    `instruct_rules:template_residue`. Put it before `instruct_rules`. A token with text after
    it (a next turn run on) is left for `instruct_rules` to reject. Rejects nothing.

    Reads and rewrites the records' own fields and `_messages`; adds `end_tokens_stripped`,
    the number of answers changed in each kept record.
    """

    requires_records: ClassVar[bool] = True

    def checks(self, batch: pa.Table) -> list[Check]:
        return []

    def output_columns(self) -> dict[str, pa.DataType]:
        return {"end_tokens_stripped": pa.int32()}

    def rewrite(self, kept: pa.Table) -> pa.Table:
        answers = [
            [t["content"] for t in turns or [] if t["role"] == "assistant"]
            for turns in kept[MESSAGES].to_pylist()
        ]
        stripped = [[strip_end_tokens(a) for a in record] for record in answers]
        changed = np.array(
            [sum(a != b for a, b in zip(x, y, strict=True)) for x, y in zip(answers, stripped)],
            dtype=np.int32,
        )
        if changed.any():
            kept = with_answers(kept, stripped)
        return set_column(kept, "end_tokens_stripped", pa.array(changed, pa.int32()))
