"""Out-of-distribution checks: is a prompt unlike every training prompt, and can the embedder read it at all.

Two checks, stored as plain data a profile can hold (``to_dict`` / ``from_dict``, validated with
the JSON path of the first bad field):

- ``TopicDetector`` (reason ``"unseen topic"``, ``fit_topic``): the familiarity of a prompt's
  embedding, from a bounded float16 store of training prompts and a tied Mahalanobis distance,
  calibrated on held-out training prompts to flag about 1% of prompts like them.
- ``ScriptCheck`` (reason ``"unsupported script"``): the share of the prompt's letters the MiniLM
  embedders' WordPiece vocabulary cannot represent; no training data needed.

``OODChecks`` holds both and gives each prompt its reason. Measured by
``benchmarks/ood_detection.py`` on every source in ``data/``.
"""

from __future__ import annotations

from .checks import UNSEEN_TOPIC, UNSUPPORTED_SCRIPT, OODChecks
from .mahalanobis import TiedMahalanobis, fit_mahalanobis
from .neighbours import MAX_STORE_SIZE, NeighbourStore, fit_neighbours
from .script import SCRIPT_CHECK_EMBEDDERS, SCRIPT_THRESHOLD, WORDPIECE_VOCAB, ScriptCheck
from .topic import DEFAULT_FPR, TopicDetector, fit_topic

__all__ = [
    "DEFAULT_FPR",
    "MAX_STORE_SIZE",
    "SCRIPT_CHECK_EMBEDDERS",
    "SCRIPT_THRESHOLD",
    "UNSEEN_TOPIC",
    "UNSUPPORTED_SCRIPT",
    "WORDPIECE_VOCAB",
    "NeighbourStore",
    "OODChecks",
    "ScriptCheck",
    "TiedMahalanobis",
    "TopicDetector",
    "fit_mahalanobis",
    "fit_neighbours",
    "fit_topic",
]
