"""Token authentication for existing Ray clusters: `ray start` writes a token (~/.ray/auth_token)
and then refuses clients that do not send it, but Ray's clients only send it when
RAY_AUTH_MODE=token is set before `ray` is imported."""

from __future__ import annotations

import os
from pathlib import Path


def use_cluster_token() -> None:
    """Send the cluster's auth token when one is on this machine or in the environment; an
    explicit RAY_AUTH_MODE is left as it is."""
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_MODE" not in os.environ and (token.exists() or "RAY_AUTH_TOKEN" in os.environ):
        os.environ["RAY_AUTH_MODE"] = "token"
