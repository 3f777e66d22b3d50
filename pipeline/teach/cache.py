"""An on-disk cache of a teacher's answers: one JSON file per (prompt, model, document)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.io.storage import Location


def answer_key(prompt_hash: str, model: str, text: str, repeat: int = 0) -> str:
    """sha256 of the prompt, the model and the document text; a `repeat` above 0 names a
    further, independent answer to the same request (repeat 0 is the plain answer)."""
    digest = hashlib.sha256()
    parts = (prompt_hash, model, text) + ((f"repeat={repeat}",) if repeat else ())
    for part in parts:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little") + data)  # length-prefixed: no ambiguity
    return digest.hexdigest()


class AnswerCache:
    """Answers under `root/<2 hex>/<key>.json`, each written whole as it arrives, so a rerun or
    a crash never pays for an answer twice. `root` is a folder or a pyarrow URI (`s3://...`):
    the workers of a Ray cluster share a cache on storage they all see. Holds replies and
    usage, never keys."""

    def __init__(self, root: str | Path | Location):
        self.root = Location.of(root)

    def _location(self, key: str) -> Location:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer, or None (also for a file a crash left unreadable)."""
        try:
            return json.loads(self._location(key).read_bytes())
        except (OSError, ValueError):
            return None

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Store an answer: written beside its place, then renamed into it (or uploaded whole
        to an object store)."""
        self._location(key).write_bytes(json.dumps(answer).encode("utf-8"))
