"""A minimal OpenAI-compatible chat server over a small local causal LM, for tests and trials.

`python -m pipeline.teach.teacher_server --model smollm2-135m --port 0` prints the URL it
listens on. Requests that arrive together are generated as one left-padded batch. Test-only
failure injection: `--fail-every N` answers every Nth request with HTTP 500, and
`--rate-limit-every N` with 429 and a Retry-After header. GET /stats counts requests and the
most generated at once (`max_in_flight`).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BATCH_WAIT_S = 0.01  # how long the first request of a batch waits for company


@dataclass
class Request:
    """One chat request waiting for the generator, and its reply once done."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    done: threading.Event = field(default_factory=threading.Event)
    reply: tuple[str, int, int] | None = None
    error: str | None = None


class Generator:
    """A causal LM behind a queue: one thread generates batches of waiting requests."""

    def __init__(self, setting: str, max_batch: int, device: str = "auto"):
        import torch

        from scorers.causal_lm import load_causal_lm, pick_device

        # oneDNN re-plans each new input shape; with prompts of every length, generation was
        # 5-20x slower with it than without on 2 cores (measured: 16 tokens 40 s vs 1.9 s).
        torch.backends.mkldnn.enabled = False
        self.torch = torch
        self.device = pick_device(device)
        self.tokenizer, self.model = load_causal_lm(setting, self.device)
        self.tokenizer.padding_side = "left"
        self.max_batch = max_batch
        self.queue: queue.Queue[Request] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True).start()

    def ask(self, request: Request) -> Request:
        """Queue `request` and wait for its reply."""
        self.queue.put(request)
        request.done.wait()
        return request

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            time.sleep(BATCH_WAIT_S)
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            sampled = [r for r in batch if r.temperature > 0]
            for group in (sampled, [r for r in batch if r.temperature <= 0]):
                if group:
                    self._generate(group)

    def _generate(self, batch: list[Request]) -> None:
        """Generate every request of `batch` at once (all greedy, or all sampled)."""
        torch, tok = self.torch, self.tokenizer
        try:
            prompts = [
                tok.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
                for r in batch
            ]
            encoded = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            encoded = encoded.to(self.device)
            longest = max(r.max_tokens for r in batch)
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": batch[0].temperature, "top_p": 1.0}
                if batch[0].temperature > 0
                else {"do_sample": False}
            )
            with torch.inference_mode():
                out = self.model.generate(
                    **encoded, max_new_tokens=longest, pad_token_id=tok.pad_token_id, **sampling
                )
            width = encoded["input_ids"].shape[1]
            for row, request in enumerate(batch):
                new = out[row, width:].tolist()[: request.max_tokens]
                if tok.eos_token_id in new:
                    new = new[: new.index(tok.eos_token_id) + 1]
                prompt_tokens = int(encoded["attention_mask"][row].sum())
                text = tok.decode(new, skip_special_tokens=True)
                request.reply = (text, prompt_tokens, len(new))
        except Exception as err:  # one bad request must not stop the server
            for request in batch:
                request.error = f"{type(err).__name__}: {err}"
        for request in batch:
            request.done.set()


class Stats:
    """Request counters, shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {
            "requests": 0,
            "completions": 0,
            "injected_500": 0,
            "injected_429": 0,
            "unauthorized": 0,
            "in_flight": 0,  # requests being generated now
            "max_in_flight": 0,  # the most at once since the start
        }

    def add(self, name: str, by: int = 1) -> int:
        """Add to a counter; its new value."""
        with self.lock:
            self.counts[name] += by
            if name == "in_flight":
                self.counts["max_in_flight"] = max(self.counts["max_in_flight"], self.counts[name])
            return self.counts[name]


class _Server(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog for many clients connecting at once (with
    the default of 5, 16 clients connecting together saw connections reset)."""

    daemon_threads = True
    request_queue_size = 128


def make_server(
    generator: Generator | None,
    model: str,
    host: str = "127.0.0.1",
    port: int = 0,
    fail_every: int = 0,
    rate_limit_every: int = 0,
    retry_after: float = 0.2,
    api_key: str | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server answering /v1/chat/completions with `generator`."""
    stats = Stats()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # request lines only clutter test output

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                with stats.lock:
                    self._send(200, dict(stats.counts))
            elif self.path in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            number = stats.add("requests")
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                stats.add("unauthorized")
                self._send(401, {"error": {"message": "invalid API key"}})
                return
            if fail_every and number % fail_every == 0:
                stats.add("injected_500")
                self._send(500, {"error": {"message": "injected failure"}})
                return
            if rate_limit_every and number % rate_limit_every == 0:
                stats.add("injected_429")
                self._send(
                    429, {"error": {"message": "rate limited"}}, {"Retry-After": str(retry_after)}
                )
                return
            try:
                body = json.loads(raw)
                request = Request(
                    body["messages"],
                    int(body.get("max_completion_tokens") or body.get("max_tokens") or 64),
                    float(body.get("temperature") or 0.0),
                )
            except (ValueError, KeyError, TypeError) as err:
                self._send(400, {"error": {"message": f"bad request: {err}"}})
                return
            if generator is None:
                self._send(503, {"error": {"message": "no model loaded"}})
                return
            stats.add("in_flight")
            try:
                generator.ask(request)
            finally:
                stats.add("in_flight", -1)
            if request.reply is None:
                self._send(500, {"error": {"message": request.error or "generation failed"}})
                return
            text, prompt_tokens, completion_tokens = request.reply
            stats.add("completions")
            self._send(
                200,
                {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                },
            )

    return _Server((host, port), Handler)


def spawn(
    *flags: str, env: dict[str, str] | None = None, timeout_s: float = 300
) -> tuple[subprocess.Popen[str], str]:
    """Start this server as a subprocess on a free port; (process, URL) once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.teach.teacher_server", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[2],  # the repository, where `pipeline` imports
    )
    assert process.stdout is not None
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        line = process.stdout.readline()
        if line.startswith("listening on "):
            return process, line.split()[-1]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"teacher server did not start within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; prints `listening on URL` once the model is loaded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="packaged name, folder or hub id")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--max-batch", type=int, default=16, help="requests generated together")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--fail-every", type=int, default=0, help="test: HTTP 500 every Nth")
    parser.add_argument("--rate-limit-every", type=int, default=0, help="test: 429 every Nth")
    parser.add_argument("--retry-after", type=float, default=0.2, help="Retry-After of a 429")
    parser.add_argument("--api-key-env", help="require `Bearer $VAR` when set")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    generator = Generator(args.model, args.max_batch, args.device)
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    server = make_server(
        generator,
        args.model,
        args.host,
        args.port,
        args.fail_every,
        args.rate_limit_every,
        args.retry_after,
        key,
    )
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
