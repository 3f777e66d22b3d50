"""Main-content text from HTML pages, with trafilatura or resiliparse."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.base import Check, Filter, FilterParams
from pipeline.core.columns import set_column
from pipeline.core.registry import register
from pipeline.core.resources import Requirement

EXTRACTORS = {
    "trafilatura": Requirement("trafilatura", "trafilatura==2.3.1", "web"),
    "resiliparse": Requirement("resiliparse", "resiliparse==2.0.0", "web"),
}


@register("extract")
class Extract(Filter):
    """The main content of each HTML page as plain text: trafilatura (Barbaresi 2021,
    https://aclanthology.org/2021.acl-demo.15; FineWeb's choice) or resiliparse's
    `extract_plain_text(main_content=True)` (DCLM's; several times faster). Navigation, ads,
    comments and footers are left out; paragraphs are separated by blank lines. A page with
    fewer than `min_chars` characters of main content is rejected.

    Reads `html_column`; writes the text column (and drops the HTML from kept rows unless
    `keep_html`). Reason: empty.
    """

    class Params(FilterParams):
        html_column: str = Field("html", description="Column holding the page's HTML.")
        extractor: Literal["trafilatura", "resiliparse"] = Field(
            "trafilatura", description="Library extracting the main content."
        )
        min_chars: int = Field(1, ge=1, description="Fewest characters of main content kept.")
        include_tables: bool = Field(True, description="Keep tables' text.")
        keep_html: bool = Field(False, description="Keep the HTML column in kept rows.")

    params: Params

    def text_input(self) -> str:
        return self.params.html_column

    def output_columns(self) -> dict[str, pa.DataType]:
        return {self.params.text_column: pa.string()}

    def requirements(self) -> list[Requirement]:
        """The library of the chosen extractor."""
        return [EXTRACTORS[self.params.extractor]]

    def transform(self, batch: pa.Table) -> pa.Table:
        pages = batch[self.params.html_column].to_pylist()
        texts = [self._extract(html) if html else None for html in pages]
        return set_column(batch, self.params.text_column, pa.array(texts, pa.string()))

    def checks(self, batch: pa.Table) -> list[Check]:
        lengths = np.array(
            [len((t or "").strip()) for t in batch[self.params.text_column].to_pylist()]
        )
        return [Check(lengths < self.params.min_chars, "empty")]

    def rewrite(self, kept: pa.Table) -> pa.Table:
        if self.params.keep_html or self.params.html_column not in kept.column_names:
            return kept
        return kept.drop_columns([self.params.html_column])

    def _extract(self, html: str) -> str | None:
        if self.params.extractor == "trafilatura":
            import trafilatura

            found: Any = trafilatura.extract(
                html,
                include_comments=False,
                include_tables=self.params.include_tables,
                deduplicate=False,
                favor_recall=False,
            )
            return found
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        text = extract_plain_text(
            HTMLTree.parse(html),
            main_content=True,
            alt_texts=False,
            links=False,
            list_bullets=True,
            skip_elements=None if self.params.include_tables else ["table"],
        )
        return text
