"""Instruction records to be written in another kind than they were read in."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.base import Check, Filter, FilterParams
from pipeline.core.columns import MESSAGES
from pipeline.core.registry import register
from pipeline.io.records import alpaca_problem, detect


@register("convert_records")
class ConvertRecords(Filter):
    """Check that kept instruction records can be written as alpaca, messages or sharegpt
    records; a recipe's `output: {format: ...}` adds this step last, and the kept records are
    converted as they are written. Alpaca holds one user and one assistant turn: other
    conversations are rejected rather than cut (records read as alpaca and written as alpaca
    keep their `system` and `history`).

    Reads `_messages`. Reasons (to alpaca): system_turn, multi_turn.
    """

    class Params(FilterParams):
        to: Literal["alpaca", "messages", "sharegpt"] = Field(description="The record kind.")

    params: Params

    def checks(self, batch: pa.Table) -> list[Check]:
        if self.params.to != "alpaca" or detect(batch.column_names) == "alpaca":
            return []
        problems = np.array(
            [
                alpaca_problem([(t["role"], t["content"]) for t in turns or []])
                for turns in batch[MESSAGES].to_pylist()
            ],
            dtype=object,
        )
        return [Check(problems == p, p) for p in ("system_turn", "multi_turn")]
