"""An on-disk cache of a teacher's answers: one JSON file per (prompt, model, document)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def answer_key(prompt_hash: str, model: str, text: str) -> str:
    """sha256 of the prompt, the model and the document text."""
    digest = hashlib.sha256()
    for part in (prompt_hash, model, text):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little") + data)  # length-prefixed: no ambiguity
    return digest.hexdigest()


class AnswerCache:
    """Answers under `root/<2 hex>/<key>.json`, each written atomically as it arrives, so a
    rerun or a crash never pays for an answer twice. Holds replies and usage, never keys."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer, or None (also for a file a crash left unreadable)."""
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Store an answer: write a temporary file, then rename it into place."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, suffix=".tmp", delete=False
        ) as handle:
            json.dump(answer, handle)
        os.replace(handle.name, path)
