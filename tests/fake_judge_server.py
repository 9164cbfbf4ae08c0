"""A FAKE LLM judge: the fake OpenAI-compatible server of fake_openai_server.py, answering routing questions.

It reads the candidate ids from the judge's system message and picks by the prompt's length alone
(longer prompt, larger model), or replies with a text a test sets for a prompt. It knows nothing
about the prompts: it stands in for the foreign service to test our side of that boundary, and its
choices mean nothing. Run it by hand for the README's demonstration:

    python tests/fake_judge_server.py 8765      # serves http://127.0.0.1:8765/v1 until Ctrl-C
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from fake_openai_server import FakeOpenAIServer

_IDS = re.compile(r"where <id> is one of: (.*)\.\Z")


class FakeJudgeServer(FakeOpenAIServer):
    """``replies`` maps a prompt (the user message) to the reply text; ``hold`` keeps each request open so
    the test can see how many are in flight (``max_in_flight``)."""

    def __init__(self, chars_per_step: int = 200, hold: float = 0.0, port: int = 0) -> None:
        super().__init__(max_n=1)
        if port:  # a fixed port, for the README's demonstration (the tests take any free one)
            self._server.server_close()
            self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.chars_per_step = chars_per_step
        self.hold = hold
        self.replies: dict[str, str] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._count = threading.Lock()

    def judgement_requests(self) -> list[dict[str, Any]]:
        """The bodies of the requests that asked about a prompt (not the preflight)."""
        return [body for _, body in self.requests if body.get("max_tokens") != 1]

    def choose(self, ids: list[str], prompt: str) -> str:
        """The made-up rule: one step up the candidate list per ``chars_per_step`` characters."""
        return ids[min(len(prompt) // self.chars_per_step, len(ids) - 1)]

    def default_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._count:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.hold)
            system = body["messages"][0]["content"]
            prompt = body["messages"][-1]["content"]
            found = _IDS.search(system)
            if body.get("max_tokens") == 1 or not found:
                text = "{"  # the preflight: one token of {"ok": true}
            elif prompt in self.replies:
                text = self.replies[prompt]
            else:
                text = json.dumps({"model": self.choose(json.loads(f"[{found.group(1)}]"), prompt)})
        finally:
            with self._count:
                self.in_flight -= 1
        words = sum(len(m["content"].split()) for m in body["messages"])
        return {"id": "fake-judge", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": words, "completion_tokens": max(1, len(text) // 4)}}


if __name__ == "__main__":
    with FakeJudgeServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0) as server:
        print(f"FAKE OpenAI-compatible judge (picks by prompt length) at {server.base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
