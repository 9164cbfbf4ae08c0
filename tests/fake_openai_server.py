"""A FAKE OpenAI-compatible chat-completions server on 127.0.0.1, to test our side of that boundary.

It answers ``POST /v1/chat/completions`` from a script of canned replies (status, headers, body,
delay), then with a default reply that echoes the request (``n`` choices up to ``max_n``, token
log-probabilities when asked, an SSE stream when ``stream`` is set). It records every request's
headers and JSON body. It stands in for no model: the texts are made up.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as s:``; ``s.base_url`` is its ``/v1`` root."""

    def __init__(self, max_n: int = 8) -> None:
        self.max_n = max_n
        self.script: list[Reply] = []
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def default_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Echo reply: choice i says 'answer i to: <last message>'."""
        last = body["messages"][-1]["content"]
        if isinstance(last, list):  # content parts: their text
            last = " ".join(str(p["text"]) for p in last if p.get("type") == "text")
        n = min(int(body.get("n", 1)), self.max_n)
        choices = []
        for i in range(n):
            choice: dict[str, Any] = {"index": i, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": f"answer {i} to: {last}"}}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": [{"token": "answer", "logprob": -0.5},
                                                  {"token": " x", "logprob": -1.5}]}
            choices.append(choice)
        return {"id": "fake", "object": "chat.completion", "choices": choices,
                "usage": {"prompt_tokens": len(last.split()), "completion_tokens": 4 * n}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with fake._lock:
                    fake.requests.append((dict(self.headers), body))
                    reply = fake.script.pop(0) if fake.script else None
                if reply is not None:
                    time.sleep(reply.delay)
                    self._send(reply.status, reply.body or b"{}", reply.headers)
                    return
                try:
                    echo = fake.default_reply(body)
                except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                    # A body the echo cannot read is refused, as a real server refuses a malformed request.
                    self._send(400, json.dumps({"error": {"message": f"fake: bad request ({exc!r})"}}).encode(), {})
                    return
                if body.get("stream"):
                    self._stream(echo)
                else:
                    self._send(200, json.dumps(echo).encode(), {})

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def _stream(self, reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                text = reply["choices"][0]["message"]["content"]
                for piece in text.split(" "):
                    event = {"choices": [{"index": 0, "delta": {"content": piece + " "}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler
