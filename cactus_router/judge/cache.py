"""The judgement cache: DIR/judgements.jsonl, one judgement a line, keyed by prompt hash and judge config.

Every paid judgement is appended (and synced) as soon as it arrives, so an interrupted run loses
nothing it paid for and a rerun asks only what is missing. Each line goes out in one ``write`` on a
file opened with O_APPEND, so a crash can cut off at most the last line; loading notices a last
line without its newline, drops it (rewriting the file atomically) and says so through
``cut_tail``: that prompt is asked again rather than silently lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import JudgeCacheError

#: The cache file's name inside the output folder.
CACHE_NAME = "judgements.jsonl"
#: Longest reply text kept (a reply is a few dozen characters when it follows the instructions).
MAX_REPLY_CHARS = 2000
_FIELDS: dict[str, tuple[type, ...]] = {
    "prompt_sha256": (str,), "config_sha256": (str,), "model": (str, type(None)), "problem": (str, type(None)),
    "reply": (str,), "finish_reason": (str, type(None)), "seconds": (float, int),
    "prompt_tokens": (int, type(None)), "completion_tokens": (int, type(None)), "calls": (int,),
}


@dataclass(frozen=True)
class Judgement:
    """One paid judgement: the model chosen (None if the reply is unparseable, with the problem),
    the reply, and what the call took (seconds, tokens, backend calls)."""

    prompt_sha256: str
    config_sha256: str
    model: str | None
    problem: str | None
    reply: str
    finish_reason: str | None
    seconds: float
    prompt_tokens: int | None
    completion_tokens: int | None
    calls: int

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> Judgement:
        """Validate one cache line's object.

        Raises:
            JudgeCacheError: a missing or extra field, or a value of the wrong type.
        """
        if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
            raise JudgeCacheError(f"{where}: expected an object with exactly the fields {', '.join(_FIELDS)}")
        for key, types in _FIELDS.items():
            value = obj[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise JudgeCacheError(f"{where}: {key} has the wrong type ({type(value).__name__})")
        if (obj["model"] is None) == (obj["problem"] is None):
            raise JudgeCacheError(f"{where}: exactly one of model and problem must be set")
        return cls(**{**obj, "seconds": float(obj["seconds"])})

    @property
    def key(self) -> tuple[str, str]:
        """(prompt hash, config hash)."""
        return self.prompt_sha256, self.config_sha256


class JudgementCache:
    """The judgements of one output folder, loaded once and appended to as they arrive.

    Raises:
        JudgeCacheError: a line other than the last is not a judgement (the file was edited or
            damaged; move it away to start over).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: Whether a last line cut off by an interrupted write was found (and removed).
        self.cut_tail = False
        self._entries: dict[tuple[str, str], Judgement] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JudgeCacheError(f"cannot read the judge cache {str(self.path)!r}: {exc.strerror or exc}") from None
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            write_atomic(self.path, data)
            self.cut_tail = True
        for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
            where = f"{self.path}:{number}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise JudgeCacheError(f"{where}: not a JSON line; the cache is damaged (move it away to start "
                                      "over)") from None
            judgement = Judgement.from_dict(obj, where)
            self._entries.setdefault(judgement.key, judgement)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, prompt_sha256: str, config_sha256: str) -> Judgement | None:
        """The cached judgement of this prompt under this config, or None."""
        return self._entries.get((prompt_sha256, config_sha256))

    def append(self, judgement: Judgement) -> None:
        """Add a judgement: one write of one whole line to the end of the file, synced to disk."""
        line = (json.dumps(asdict(judgement), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:  # a regular file takes it in one write; a short write is continued, never split
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self._entries.setdefault(judgement.key, judgement)


__all__ = ["CACHE_NAME", "MAX_REPLY_CHARS", "Judgement", "JudgementCache"]
