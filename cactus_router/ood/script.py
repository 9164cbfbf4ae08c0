"""The "unsupported script" check: the share of a prompt's letters the MiniLM vocabulary cannot represent.

The MiniLM embedders tokenise with the English BERT-uncased WordPiece vocabulary. A letter is
unrepresented when it sits inside an ``[UNK]`` token, in a word spelled out one letter per piece
(Cyrillic, Arabic, Hangul, kana: the vocabulary has those letters but none of their words), or is
a lone non-ASCII letter (a Han character the English model never learned). Such a prompt lands
wherever the embedder puts noise, so its similarity to the training prompts says nothing. The
check needs no training data.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ..errors import ArgumentError, ProfileError
from ._plain import mapping, number

#: Above this share of unrepresentable letters a prompt is in an unsupported script. Training
#: prompts of every source in data/ stay below 0.2 at their 99.9th percentile; the project's
#: Chinese, Arabic and Russian test prompts are all above 0.5 (benchmarks/ood_detection.py).
SCRIPT_THRESHOLD = 0.35
#: The vocabulary ScriptCheck reads, and the embedders that tokenise with it.
WORDPIECE_VOCAB = "bert-base-uncased"
SCRIPT_CHECK_EMBEDDERS = frozenset({"paraphrase-minilm-l3-v2", "paraphrase-minilm-l3-v2-int8", "minilm-l6-v2-int8"})
#: Characters read from each end of a long prompt (the MiniLM embedders' own clipping).
CHARS_EACH_END = 2048


@functools.lru_cache(maxsize=1)
def _wordpiece() -> Any:
    import tokenizers

    text = (resources.files("cactus_router") / "_data" / "minilm_tokenizer.json").read_text(encoding="utf-8")
    tok = tokenizers.Tokenizer.from_str(text)
    tok.no_truncation()
    tok.no_padding()
    return tok


def _unreadable(text: str, tokens: Sequence[str], words: Sequence[int | None],
                offsets: Sequence[tuple[int, int]]) -> float:
    """Share of the letters of ``text`` that its WordPiece tokens do not represent (0 without letters)."""
    pieces: dict[int | None, list[tuple[str, int]]] = {}
    for tok, w, (a, b) in zip(tokens, words, offsets):
        pieces.setdefault(w, []).append((tok, sum(ch.isalpha() for ch in text[a:b])))
    bad = total = 0
    for ps in pieces.values():
        letters = sum(n for _, n in ps)
        total += letters
        bad += sum(n for tok, n in ps if tok == "[UNK]")
        single = sum(1 for tok, n in ps if n == 1 and tok != "[UNK]")
        if letters >= 2 and single * 2 >= letters:
            bad += single  # a word spelled out letter by letter: the vocabulary has no piece of it
        elif letters == 1 and single == 1 and not all(tok.isascii() for tok, _ in ps):
            bad += 1  # a lone non-ASCII letter, e.g. a Han character the English model never learned
    return bad / total if total else 0.0


@dataclass(frozen=True)
class ScriptCheck:
    """The "unsupported script" check for the MiniLM embedders' vocabulary (see the module docstring).

    Attributes:
        threshold: a prompt with a larger share of unrepresentable letters is out of distribution.
        vocabulary: the WordPiece vocabulary read (only WORDPIECE_VOCAB is known).
    """

    threshold: float = SCRIPT_THRESHOLD
    vocabulary: str = WORDPIECE_VOCAB

    def unreadable_share(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) share of each prompt's letters the vocabulary cannot represent."""
        if isinstance(texts, str):
            raise ArgumentError("unreadable_share takes a sequence of prompts, not one string")
        clipped = [t if len(t) <= 2 * CHARS_EACH_END else t[:CHARS_EACH_END] + " " + t[-CHARS_EACH_END:]
                   for t in texts]
        encs = _wordpiece().encode_batch(clipped, add_special_tokens=False)
        return np.array([_unreadable(t, e.tokens, e.word_ids, e.offsets) for t, e in zip(clipped, encs)])

    def unsupported(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) bool: the prompts above the threshold."""
        return np.asarray(self.unreadable_share(texts) > self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"kind": "wordpiece-coverage", "vocabulary": self.vocabulary, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, obj: Any, path: str = "$.ood.script") -> ScriptCheck:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        if d.get("kind") != "wordpiece-coverage":
            raise ProfileError(f"{path}.kind must be 'wordpiece-coverage', got {d.get('kind')!r}")
        if d.get("vocabulary") != WORDPIECE_VOCAB:
            raise ProfileError(f"{path}.vocabulary must be {WORDPIECE_VOCAB!r}, got {d.get('vocabulary')!r}")
        return cls(number(d.get("threshold"), f"{path}.threshold", 0.0, 1.0), WORDPIECE_VOCAB)
