"""Token authentication for running Ray clusters: a head started where a token exists
(~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN; a local `ray.init()` writes the
first) refuses clients without it, and Ray's clients send it only when RAY_AUTH_MODE=token is
set before `ray` is imported."""

from __future__ import annotations

import os
from pathlib import Path


def use_cluster_token() -> None:
    """Send the cluster's token when this machine has one, unless RAY_AUTH_MODE says otherwise."""
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_MODE" not in os.environ and (token.exists() or "RAY_AUTH_TOKEN" in os.environ):
        os.environ["RAY_AUTH_MODE"] = "token"
