"""What a reader is given: one input file (a shard) and the options every shard is read with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_URI_SCHEME = "://"


@dataclass(frozen=True)
class InputShard:
    """One input file, its position in the deterministic input order, and its format; in a
    run's plan, also the rows to read from it (`limit`, None: all) and, when scores are
    reused, its index in the earlier run (`reuse_from`). It travels to the task that reads it
    alone, so nothing a task is given grows with the number of shards."""

    index: int
    path: str
    format: str
    limit: int | None = None
    reuse_from: int | None = None
    name: str | None = None  # where input files share a name: the path below their folder

    @property
    def label(self) -> str:
        """A short name for ids and messages: the file name, or where input files share one,
        the path below the folder they all share; for paths and URIs alike."""
        if self.name:
            return self.name
        return Path(urlsplit(self.path).path if _URI_SCHEME in self.path else self.path).name


@dataclass(frozen=True)
class ReadOptions:
    """How to read text and ids from every shard. `records`: "text" for a text column, else
    instruction records of one kind (alpaca, messages, sharegpt) or of the kind each file's
    fields show ("detect")."""

    text_column: str = "text"
    id_column: str = "id"
    max_text_chars: int = 1_000_000
    chunk_rows: int = 4096
    records: str = "text"
    max_invalid_fraction: float = 1.0
    id_policy: str = "unique"  # or "file_row": ids from file and row
