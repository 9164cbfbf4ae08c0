"""The two facts about the user's machine that several modules need: where cactus-router may
cache files, and how to install a missing piece."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming cactus-router's cache folder (the int8 MiniLM-L3 model,
#: libcactus' local telemetry files).
CACHE_DIR_ENV = "CACTUS_ROUTER_CACHE_DIR"


def cache_dir() -> Path:
    """``$CACTUS_ROUTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/cactus-router``, else ``~/.cache/cactus-router``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cactus-router"


def install_hint(missing: str, extra: str | None = None, why: str = "") -> str:
    """One line: what is missing, and the pip command that installs it (an extra, or the core)."""
    because = f" ({why})" if why else ""
    if extra is None:
        return (f"{missing} is not installed{because}; install it with: pip install 'cactus-router' "
                "(it is a core dependency)")
    return f"{missing} is not installed{because}; install it with: pip install 'cactus-router[{extra}]'"
