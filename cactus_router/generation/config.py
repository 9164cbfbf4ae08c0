"""The backend config: a TOML file mapping model ids to generation backends (docs/backends.md).

    [models."qwen2.5-7b-instruct"]
    backend = "openai"
    base_url = "http://127.0.0.1:8080/v1"
    api_key_env = "MY_SERVER_KEY"      # optional: the variable holding the key, never the key

    [models."lfm2-350m"]
    backend = "cactus"
    model_path = "models/lfm2-350m"    # relative to this file

Generators are created on first use, so a config naming an unreachable server or a missing
bundle loads fine until that model is asked for.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import read_input
from .._paths import install_hint
from ..errors import BackendConfigError
from ._types import Generator

#: Keys each backend accepts, beside ``backend`` (and what each means is in docs/backends.md).
BACKEND_KEYS: dict[str, frozenset[str]] = {
    "openai": frozenset({"base_url", "served_model", "api_key_env", "timeout", "max_retries", "backoff",
                         "max_backoff"}),
    "cactus": frozenset({"model_path", "lib_path", "telemetry"}),
}
_REQUIRED = {"openai": ("base_url",), "cactus": ("model_path",)}
_TYPES: dict[str, tuple[type, ...]] = {
    "base_url": (str,), "served_model": (str,), "api_key_env": (str,), "timeout": (int, float),
    "max_retries": (int,), "backoff": (int, float), "max_backoff": (int, float), "model_path": (str,),
    "lib_path": (str,), "telemetry": (bool,),
}


#: Largest backend config file read: a list of model ids and URLs, never megabytes.
MAX_CONFIG_BYTES = 1024 * 1024

def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError as exc:  # pragma: no cover - Python 3.10 without the extra
        raise BackendConfigError(install_hint("tomli", "generate", "Python 3.10 reads TOML with it")) from exc
    return tomli


@dataclass(frozen=True)
class BackendSpec:
    """One model's backend, as the config file gives it (validated)."""

    model: str
    backend: str
    options: Mapping[str, Any]


def _spec(model: str, table: object, where: str, base: Path) -> BackendSpec:
    if not isinstance(table, dict):
        raise BackendConfigError(f"{where}: [models.{model!r}] must be a table")
    backend = table.get("backend")
    if backend not in BACKEND_KEYS:
        raise BackendConfigError(f"{where}: model {model!r}: backend must be one of {sorted(BACKEND_KEYS)}, "
                                 f"got {backend!r}")
    options = {k: v for k, v in table.items() if k != "backend"}
    unknown = sorted(set(options) - BACKEND_KEYS[backend])
    if unknown:
        raise BackendConfigError(f"{where}: model {model!r}: unknown key(s) {', '.join(unknown)} for backend "
                                 f"{backend!r} (known: {', '.join(sorted(BACKEND_KEYS[backend]))})")
    for key in _REQUIRED[backend]:
        if key not in options:
            raise BackendConfigError(f"{where}: model {model!r}: backend {backend!r} needs {key!r}")
    for key, value in options.items():
        if not isinstance(value, _TYPES[key]) or (isinstance(value, bool) and bool not in _TYPES[key]):
            raise BackendConfigError(f"{where}: model {model!r}: {key} must be "
                                     f"{' or '.join(t.__name__ for t in _TYPES[key])}, got {value!r}")
    for key in ("model_path", "lib_path"):
        if key in options:
            options[key] = str(base / Path(options[key]).expanduser())
    return BackendSpec(model, backend, options)


@dataclass(frozen=True)
class BackendConfig:
    """Model ids to backends, with one generator per model created on first use."""

    specs: Mapping[str, BackendSpec]
    _made: dict[str, Generator] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def models(self) -> tuple[str, ...]:
        """The configured model ids, in file order."""
        return tuple(self.specs)

    def generator(self, model: str) -> Generator:
        """The generator for ``model`` (created once, then reused)."""
        if model not in self.specs:
            raise BackendConfigError(f"no backend is configured for model {model!r} (configured: "
                                     f"{', '.join(self.specs) or 'none'})")
        with self._lock:
            if model not in self._made:
                self._made[model] = _make(self.specs[model])
            return self._made[model]


def _make(spec: BackendSpec) -> Generator:
    opts = dict(spec.options)
    if spec.backend == "openai":
        from .http import OpenAIGenerator

        return OpenAIGenerator(spec.model, opts.pop("base_url"), name=f"openai:{spec.model}", **opts)
    from .cactus import CactusGenerator

    return CactusGenerator(opts.pop("model_path"), model=spec.model, **opts)


def parse_backends(text: str, *, where: str = "backend config", base: str | os.PathLike[str] = ".") -> BackendConfig:
    """A BackendConfig from TOML text; relative paths are taken from ``base``."""
    try:
        data = _toml().loads(text)
    except ValueError as exc:
        raise BackendConfigError(f"{where}: not valid TOML: {exc}") from None
    models = data.get("models")
    extra = sorted(set(data) - {"models"})
    if extra:
        raise BackendConfigError(f"{where}: unknown top-level key(s) {', '.join(extra)}; put models under [models]")
    if not isinstance(models, dict) or not models:
        raise BackendConfigError(f"{where}: no [models.\"ID\"] tables; see docs/backends.md")
    return BackendConfig({m: _spec(m, t, where, Path(base)) for m, t in models.items()})


def load_backends(path: str | os.PathLike[str]) -> BackendConfig:
    """Read a backend config file (TOML); relative paths in it are taken from its folder."""
    p = Path(path)
    data = read_input(p, "backend config", BackendConfigError, MAX_CONFIG_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BackendConfigError(f"{p}: not UTF-8 text (byte {exc.start}); a backend config is TOML") from None
    return parse_backends(text, where=str(p), base=p.parent)


__all__ = ["BACKEND_KEYS", "BackendConfig", "BackendSpec", "load_backends", "parse_backends"]
