"""A client of OpenAI-compatible chat endpoints, with retries, backoff and a shared budget."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from pipeline.core.errors import RunError, TamisError, first_line

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 500, 502, 503, 504}


class TeacherError(TamisError):
    """The endpoint refused the request (bad key, model or URL): what to change."""


class TeacherUnavailable(RunError):
    """The endpoint kept failing after every retry."""


@dataclass(frozen=True)
class Completion:
    """One reply, the tokens it cost and the requests it took (1 without a retry)."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int = 1


@dataclass
class ChatClient:
    """POSTs to `{endpoint}/v1/chat/completions`. Connection errors, 5xx and 429 are retried
    with exponential backoff and jitter (a 429's Retry-After is honoured), at most `retries`
    times per request. The API key goes only into the Authorization header."""

    endpoint: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    retries: int = 6
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.retried = 0  # requests sent again, over all threads

    def settings(self) -> dict[str, Any]:
        """Everything that makes this client but the key, to build it again elsewhere (a Ray
        worker, which gets the key by another way)."""
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "retries": self.retries,
            "backoff_s": self.backoff_s,
            "max_backoff_s": self.max_backoff_s,
            "timeout_s": self.timeout_s,
        }

    @property
    def url(self) -> str:
        """The chat completions URL."""
        base = self.endpoint.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        return f"{base.removesuffix('/v1')}/v1/chat/completions"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> Completion:
        """The reply to `messages`; raises TeacherError (4xx) or TeacherUnavailable."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                with self._lock:
                    self.retried += 1
            try:
                response = self._session().post(
                    self.url, json=body, headers=headers, timeout=self.timeout_s
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                why = f"{type(err).__name__}: {self._scrub(first_line(err))}"
                self._wait(attempt, None, why)
                continue
            if response.status_code == 200:
                return replace(self._completion(response), attempts=attempt + 1)
            why = f"HTTP {response.status_code}: {self._scrub(response.text[:200].strip())}"
            if response.status_code not in RETRY_STATUS:
                raise TeacherError(f"{self.url} refused the request ({why})")
            self._wait(attempt, response.headers.get("Retry-After"), why)
        raise TeacherUnavailable(
            f"{self.url} failed {self.retries + 1} times (last: {why}); answers so far are "
            "cached: rerun the same command to resume"
        )

    def _wait(self, attempt: int, retry_after: str | None, why: str) -> None:
        """Sleep before the next attempt: Retry-After when given, else backoff with jitter."""
        if attempt >= self.retries:
            return
        delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        delay = delay / 2 + random.uniform(0, delay / 2)
        if retry_after is not None:
            try:
                delay = min(self.max_backoff_s, max(0.0, float(retry_after)))
            except ValueError:  # an HTTP date: keep the backoff
                pass
        log.info("teacher: %s; retry %d in %.2f s", why, attempt + 1, delay)
        time.sleep(delay)

    def _completion(self, response: requests.Response) -> Completion:
        """The reply and usage of a 200 response."""
        try:
            data: Any = response.json()
            content = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise TeacherError(
                f"{self.url}: not an OpenAI chat completion ({response.text[:120]!r})"
            ) from None
        usage = data.get("usage") or {}
        return Completion(
            content, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        )

    def _scrub(self, text: str) -> str:
        """`text` without the API key, should an endpoint echo it."""
        return text.replace(self.api_key, "***") if self.api_key else text
