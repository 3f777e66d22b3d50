"""A filter: pages with an overlong line (minified code, base64 blobs, tables without breaks)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters import Check, Filter, FilterParams
from pipeline.core.columns import text_list
from pipeline.core.registry import register


@register("max_line_length")
class MaxLineLength(Filter):
    """Reject rows with a line longer than `max_chars` characters.

    Reads the text column. Reason: line_length>N.
    """

    class Params(FilterParams):
        max_chars: int = Field(2000, gt=0, description="Longest line a kept row may have.")

    def checks(self, batch: pa.Table) -> list[Check]:
        texts = text_list(batch, self.params.text_column)
        longest = np.array([max(map(len, t.splitlines()), default=0) for t in texts])
        return [Check(longest > self.params.max_chars, f"line_length>{self.params.max_chars}")]
