"""The out-of-distribution checks a profile carries, and the reason each prompt gets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError, ProfileError
from ._plain import mapping
from .script import ScriptCheck
from .topic import TopicDetector

UNSEEN_TOPIC = "unseen topic"
UNSUPPORTED_SCRIPT = "unsupported script"


@dataclass(frozen=True)
class OODChecks:
    """Either check may be absent. The script check goes first: a prompt the embedder cannot read
    has a meaningless familiarity."""

    topic: TopicDetector | None = None
    script: ScriptCheck | None = None

    def reasons(self, texts: Sequence[str] | None, embeddings: Any) -> list[str | None]:
        """Per prompt, UNSUPPORTED_SCRIPT, UNSEEN_TOPIC or None (in distribution).

        ``texts`` may be None when only embeddings are routed: the script check is then skipped.
        """
        n = len(np.atleast_2d(np.asarray(embeddings)))
        if texts is not None and len(texts) != n:
            raise ArgumentError(f"{len(texts)} texts for {n} embeddings")
        out: list[str | None] = [None] * n
        if self.topic is not None:
            for i in np.flatnonzero(self.topic.unseen(embeddings)).tolist():
                out[i] = UNSEEN_TOPIC
        if self.script is not None and texts is not None:
            for i in np.flatnonzero(self.script.unsupported(texts)).tolist():
                out[i] = UNSUPPORTED_SCRIPT
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``{"topic"?: ..., "script"?: ...}``."""
        out: dict[str, Any] = {}
        if self.topic is not None:
            out["topic"] = self.topic.to_dict()
        if self.script is not None:
            out["script"] = self.script.to_dict()
        return out

    @classmethod
    def from_dict(cls, obj: Any, path: str = "$.ood") -> OODChecks:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: an unknown key or a malformed check, named by its JSON path.
        """
        d = mapping(obj, path)
        unknown = sorted(set(d) - {"topic", "script"})
        if unknown:
            raise ProfileError(f"{path} has unknown key(s) {', '.join(map(repr, unknown))}; expected 'topic', 'script'")
        topic = TopicDetector.from_dict(d["topic"], f"{path}.topic") if "topic" in d else None
        script = ScriptCheck.from_dict(d["script"], f"{path}.script") if "script" in d else None
        return cls(topic, script)
