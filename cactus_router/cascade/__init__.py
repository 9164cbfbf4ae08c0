"""Generate, verify, escalate: AutoMix-style cascades over generation backends.

``signals`` scores an answer; ``table`` reads verification tables; ``deciders`` learn when to
escalate from a table; ``CascadeRouter`` runs a cascade starting where a ``Router`` decides.
"""

from .answers import extract_answer
from .signals import Score, logprob_confidence, self_consistency, self_verification

__all__ = ["Score", "extract_answer", "logprob_confidence", "self_consistency", "self_verification"]
