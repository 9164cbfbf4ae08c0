"""Start ``cactus-router serve`` in a real subprocess on a free loopback port, for the serve tests.

The service binds port 0 and prints the port it got, so no two runs race for one. The session's
shared service routes with the default profile and sends the gateway's calls to the FAKE
OpenAI-compatible server of fake_openai_server.py (which stands in for no model).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The profile models the shared service's backend config sends to the fake server.
GATEWAY_MODELS = ("gemma-2-9b-it", "llama-3.1-8b-instruct", "qwen2.5-7b-instruct")
#: A configured model the profile does not know: the gateway passes it through unrouted.
PASSTHROUGH_MODEL = "local-only"
#: The limits the shared service is started with (small, so the tests can cross them).
LIMITS = {"max_batch": 8, "max_prompt_chars": 2000, "max_body_bytes": 65536}


def backend_config(base_url: str, folder: Path) -> Path:
    """A backend config naming the gateway's models, each served by ``base_url`` as ``served-<id>``."""
    lines = []
    for model in (*GATEWAY_MODELS, PASSTHROUGH_MODEL):
        lines += [f'[models."{model}"]', 'backend = "openai"', f'base_url = "{base_url}"',
                  f'served_model = "served-{model}"', "max_retries = 0", ""]
    path = folder / "backends.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Served:
    """One ``cactus-router serve`` process: ``url`` once it listens, ``wait_ready`` until routing works."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "cactus_router", "serve", "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=self._log, env={**os.environ, **(env or {})})
        self.url = self._wait_for_port()

    def log(self) -> str:
        """What the service wrote to stderr so far."""
        self._log.seek(0)
        return self._log.read()

    def _wait_for_port(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", self.log())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"serve did not start within 60 s: {self.log()}")

    def wait_ready(self, headers: dict[str, str] | None = None) -> None:
        """Poll /ready until it answers 200 (the router loaded and warmed)."""
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if httpx.get(self.url + "/ready", headers=headers).status_code == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"serve was not ready within 60 s: {self.log()}")

    def stop(self) -> int:
        """SIGTERM (a graceful shutdown), then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()


@pytest.fixture(scope="session")
def fake_backend() -> Iterator[object]:
    """The FAKE OpenAI-compatible server behind the shared service's gateway."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def served(fake_backend: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The shared service: the default profile, one worker and a queue of two, small limits, the fake backend."""
    pytest.importorskip("starlette", reason="the service needs the serve extra (pip install 'cactus-router[serve]')")
    pytest.importorskip("uvicorn", reason="the service needs the serve extra (pip install 'cactus-router[serve]')")
    config = backend_config(fake_backend.base_url, tmp_path_factory.mktemp("serve"))  # type: ignore[attr-defined]
    server = Served("--workers", "1", "--queue", "2", "--config", str(config), "--timeout", "20",
                    *(f"--{k.replace('_', '-')}={v}" for k, v in LIMITS.items()))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
