"""WARC files (Common Crawl's format) read as rows: one per record, HTML responses usable.

Each record becomes a row with `id` (its WARC-Record-ID), `url`, `date`, `warc_type`,
`content_type` and `html` (the HTTP body decoded with its declared or detected charset). Only
HTML responses are documents: every other record is rejected with a reason, so the counts
reconcile with the file: `warc:request`, `warc:metadata`, `warc:warcinfo` (what a crawl
records beside pages), `warc:not_html` (a PDF, an image) and `invalid:bad_record` (a body that
cannot be read). Read with FastWARC (https://resiliparse.chatnoir.eu), which handles
plain and gzipped WARCs record by record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from pipeline.core.columns import READ_REASON
from pipeline.core.errors import MissingDependencyError

HTML_TYPES = ("text/html", "application/xhtml+xml")
FIELDS = ("id", "url", "date", "warc_type", "content_type", "html")


def warc_rows(stream: BinaryIO) -> Iterator[dict[str, Any]]:
    """One row per WARC record of `stream`; rows that are no HTML response carry their reason."""
    try:
        from fastwarc.warc import ArchiveIterator
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    except ImportError:
        raise MissingDependencyError(
            "reading WARC files needs fastwarc and resiliparse: pip install 'tamis[web]' "
            "(or pip install fastwarc resiliparse)"
        ) from None
    for record in ArchiveIterator(stream, parse_http=True, verify_digests=False):
        kind = str(record.record_type)
        row: dict[str, Any] = {
            "id": record.record_id,
            "url": record.headers.get("WARC-Target-URI"),
            "date": record.headers.get("WARC-Date"),
            "warc_type": kind,
            "content_type": None,
            "html": None,
        }
        if kind != "response":
            yield row | {READ_REASON: f"warc:{kind}"}
            continue
        mime = (record.http_content_type or "").split(";")[0].strip().lower()
        row["content_type"] = mime or None
        if mime not in HTML_TYPES:
            yield row | {READ_REASON: "warc:not_html"}
            continue
        try:
            body = record.reader.read()
        except Exception:  # a body cut short or garbled: one rejected row, not a stopped run
            yield row | {READ_REASON: "invalid:bad_record"}
            continue
        charset = record.http_charset or detect_encoding(body)
        yield row | {"html": bytes_to_str(body, charset)}
