"""``cactus-router serve``: the local routing service, OpenAI-compatible gateway and playground.

Needs ``pip install "cactus-router[serve]"``.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import click

from ..errors import RouterError
from ..serve import DEFAULT_HOST, DEFAULT_PORT, ServeConfig


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so the real port (for --port 0) is known before serving."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the listening
    # socket says it is TCP; with proto 0, Nagle and delayed ACKs add about 40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", "-p", default="default", show_default=True, help="Profile path or bundled profile name.")
@click.option("--embedder", "-e", default=None, help="Embedder name (default: the one the profile records).")
@click.option("--config", "backends", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Backend config (TOML, docs/backends.md) for the OpenAI-compatible gateway.")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 = any free port; the one chosen is printed).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Routing threads sharing one Router.")
@click.option("--queue", default=64, show_default=True, type=click.IntRange(1, 100_000),
              help="Requests that may wait for a worker; one more is answered 429.")
@click.option("--token-env", default=None, metavar="VAR",
              help="Environment variable holding a bearer token every API call must carry.")
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=click.IntRange(1, 1 << 30))
@click.option("--max-prompt-chars", default=32_768, show_default=True, type=click.IntRange(1, 1 << 26))
@click.option("--max-batch", default=64, show_default=True, type=click.IntRange(1, 100_000),
              help="Most prompts /v1/route/batch takes.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Seconds a request may take (routing, or the backend's reply).")
def serve(profile: str, embedder: str | None, backends: str | None, host: str, port: int, workers: int, queue: int,
          token_env: str | None, max_body_bytes: int, max_prompt_chars: int, max_batch: int, timeout: float) -> None:
    """Serve routing over HTTP: the routing API, /v1/chat/completions and a playground at /."""
    try:
        import uvicorn

        from ..serve.app import create_app
    except ImportError as exc:
        raise click.ClickException(f"cactus-router serve needs the serve extra ({exc.name} is missing); "
                                   "install it with: pip install 'cactus-router[serve]'") from None
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise click.ClickException(f"--token-env {token_env}: that environment variable is not set")
    try:
        config = ServeConfig(profile, embedder, backends, token, workers, queue, max_body_bytes, max_prompt_chars,
                             max_batch, timeout)
        _check_inputs(config)
    except RouterError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    if not _is_loopback(host) and token is None:
        click.echo(f"warning: listening on {host} without --token-env: anyone who can reach it can use it", err=True)
    sock = listening_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"cactus-router serve: listening on http://{shown}:{sock.getsockname()[1]} "
               f"(profile {profile}, {workers} workers)", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=int(timeout) + 5))
    server.run(sockets=[sock])


def _check_inputs(config: ServeConfig) -> None:
    """Read the profile and the backend config now, so a bad one is a one-line error before serving."""
    from ..generation import load_backends
    from ..profile import Profile

    Profile.load(config.profile)
    if config.backends is not None:
        load_backends(config.backends)
