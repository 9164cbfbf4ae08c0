"""``cactus-router serve``: a local routing service, an OpenAI-compatible gateway and a playground.

Needs ``pip install "cactus-router[serve]"`` (Starlette, uvicorn, httpx). This package's
``__init__`` imports none of them, so the CLI can offer the command without them; the app is
``cactus_router.serve.app.create_app(ServeConfig(...))``, an ASGI application.
"""

from .config import DEFAULT_HOST, DEFAULT_PORT, ServeConfig

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServeConfig"]
