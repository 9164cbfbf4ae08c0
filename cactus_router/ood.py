"""Out-of-distribution checks: is a prompt unlike every training prompt, and can the embedder read it at all.

Two checks, stored as plain data a profile can hold (``to_dict`` / ``from_dict``, validated):

- ``NeighbourStore`` (reason ``"unseen topic"``): the mean cosine similarity of a prompt to its
  ``k`` nearest vectors in a bounded store, a k-means coreset of the training prompts. Vectors
  are centred on the training mean first (sentence embeddings share a large common direction,
  which makes every raw cosine high) and kept as float16. The threshold is calibrated on
  held-out training prompts: each cross-validation fold is scored against a store built without
  it, and the threshold is the ``fpr`` quantile of those similarities.
- ``ScriptCheck`` (reason ``"unsupported script"``): the share of a prompt's letters that the
  MiniLM embedders' English WordPiece vocabulary cannot represent: letters inside ``[UNK]``
  tokens, in words spelled out one letter per piece (Cyrillic, Arabic, Hangul, kana), and
  non-ASCII one-letter words (Han characters). Such a prompt lands wherever the embedder puts
  noise, so its similarity says nothing; the check needs no training data.

Measured by ``benchmarks/ood_detection.py`` on every source in ``data/``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from .errors import ArgumentError, ProfileError

UNSEEN_TOPIC = "unseen topic"
UNSUPPORTED_SCRIPT = "unsupported script"
#: Store sizes: the default, and the largest a profile may hold.
DEFAULT_STORE_SIZE = 512
MAX_STORE_SIZE = 4096
DEFAULT_NEIGHBOURS = 5
#: Target share of in-distribution prompts flagged, set on held-out training prompts.
DEFAULT_FPR = 0.01
#: Above this share of unrepresentable letters a prompt is in an unsupported script. Training
#: prompts of every source in data/ stay below 0.2 at their 99.9th percentile; the project's
#: Chinese, Arabic and Russian test prompts are all above 0.5 (benchmarks/ood_detection.py).
SCRIPT_THRESHOLD = 0.35
#: The vocabulary ScriptCheck reads, and the embedders that tokenise with it.
WORDPIECE_VOCAB = "bert-base-uncased"
SCRIPT_CHECK_EMBEDDERS = frozenset({"paraphrase-minilm-l3-v2", "paraphrase-minilm-l3-v2-int8", "minilm-l6-v2-int8"})
#: Characters read from each end of a long prompt (the MiniLM embedders' own clipping).
CHARS_EACH_END = 2048
UNIT_TOLERANCE = 1e-2


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def _as_matrix(embeddings: Any, dim: int) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ArgumentError(f"embeddings must have shape (n, {dim}), got {np.shape(embeddings)}")
    if not np.isfinite(x).all():
        raise ArgumentError("embeddings must be finite")
    return x


def _mean_top_k(q: np.ndarray, store: np.ndarray, k: int) -> np.ndarray:
    sims = q @ store.T
    if k == 1:
        return np.asarray(sims.max(axis=1))
    top = -np.partition(-sims, k - 1, axis=1)[:, :k]
    return np.asarray(top.mean(axis=1))


@dataclass(frozen=True)
class NeighbourStore:
    """The "unseen topic" check: similarity to the k nearest vectors of a bounded training store.

    Attributes:
        centre: (D,) float32, the mean training embedding, subtracted before comparing.
        vectors: (S, D) float16 unit rows, a coreset of the centred training embeddings.
        k: neighbours averaged (1 <= k <= S).
        threshold: a prompt whose mean similarity is below this is out of distribution.
        fpr: the share of held-out training prompts below ``threshold`` it was calibrated to.
    """

    centre: np.ndarray = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    k: int
    threshold: float
    fpr: float

    def __post_init__(self) -> None:
        for name, dtype in (("centre", np.float32), ("vectors", np.float16)):
            a = np.array(getattr(self, name), dtype=dtype)
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.vectors.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays (float16 vectors, float32 centre)."""
        return int(self.vectors.nbytes + self.centre.nbytes)

    def similarity(self, embeddings: Any) -> np.ndarray:
        """(n,) mean cosine similarity of each embedding (centred) to its k nearest stored vectors."""
        x = _as_matrix(embeddings, self.dim)
        return _mean_top_k(_unit(x - self.centre), self.vectors.astype(np.float32), self.k)

    def unseen(self, embeddings: Any) -> np.ndarray:
        """(n,) bool: the embeddings below the threshold."""
        return np.asarray(self.similarity(embeddings) < self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the vectors as base64 float16, little-endian)."""
        return {"kind": "neighbour-store", "k": self.k, "threshold": round(self.threshold, 6), "fpr": self.fpr,
                "centre": [round(float(v), 6) for v in self.centre], "vectors": _encode_f16(self.vectors)}

    @classmethod
    def from_dict(cls, obj: Any, path: str = "$.ood.topic") -> NeighbourStore:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = _mapping(obj, path)
        if d.get("kind") != "neighbour-store":
            raise ProfileError(f"{path}.kind must be 'neighbour-store', got {d.get('kind')!r}")
        vectors = _decode_f16(d.get("vectors"), f"{path}.vectors")
        s, dim = vectors.shape
        norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
        if np.any(np.abs(norms - 1.0) > UNIT_TOLERANCE):
            raise ProfileError(f"{path}.vectors row {int(np.argmax(np.abs(norms - 1.0)))} is not a unit vector")
        k = _integer(d.get("k"), f"{path}.k", 1, s)
        threshold = _number(d.get("threshold"), f"{path}.threshold", -1.0, 1.0)
        fpr = _number(d.get("fpr"), f"{path}.fpr", 0.0, 0.5)
        centre = d.get("centre")
        if not isinstance(centre, list) or len(centre) != dim:
            raise ProfileError(f"{path}.centre must be a list of {dim} numbers (the vectors' width)")
        values = [_number(v, f"{path}.centre[{i}]", -1.0, 1.0) for i, v in enumerate(centre)]
        return cls(np.array(values, dtype=np.float32), vectors, k, threshold, fpr)


def _coreset(x: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` unit vectors summarising the unit rows of ``x``: k-means centroids, or the rows themselves."""
    if len(x) <= size:
        return x
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one thread: the same seed gives the same store everywhere
        km = KMeans(n_clusters=size, n_init=1, random_state=seed).fit(x.astype(np.float64))
    return _unit(km.cluster_centers_).astype(np.float32)


def fit_store(embeddings: Any, *, size: int = DEFAULT_STORE_SIZE, k: int = DEFAULT_NEIGHBOURS,
              fpr: float = DEFAULT_FPR, folds: int = 3, seed: int = 0) -> NeighbourStore:
    """Fit the "unseen topic" check on training embeddings and calibrate it on held-out folds of them.

    Args:
        embeddings: (n, D) training embeddings (the embedder's unit vectors).
        size: store size S (at most MAX_STORE_SIZE); fewer rows are stored as they are.
        k: neighbours averaged.
        fpr: target share of held-out training prompts flagged.
        folds: cross-validation folds for the calibration.
        seed: seeds the folds and k-means.

    Raises:
        ArgumentError: bad arguments, or too few rows (each fold needs k rows to compare with).
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_STORE_SIZE:
        raise ArgumentError(f"size must be an int in [1, {MAX_STORE_SIZE}], got {size!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= size:
        raise ArgumentError(f"k must be an int in [1, size={size}], got {k!r}")
    if not 0.0 < fpr <= 0.5:
        raise ArgumentError(f"fpr must be in (0, 0.5], got {fpr!r}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ArgumentError(f"folds must be an int >= 2, got {folds!r}")
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ArgumentError("embeddings must be a finite (n, D) array")
    if len(x) * (folds - 1) < folds * k:
        raise ArgumentError(f"{len(x)} training rows are too few for k={k} neighbours over {folds} folds")
    centre = x.mean(axis=0)
    parts = np.array_split(np.random.default_rng(seed).permutation(len(x)), folds)
    held = []
    for i, part in enumerate(parts):
        rest = np.concatenate(parts[:i] + parts[i + 1 :])
        c = x[rest].mean(axis=0)
        store = _coreset(_unit(x[rest] - c), size, seed)
        held.append(_mean_top_k(_unit(x[part] - c), store.astype(np.float16).astype(np.float32), k))
    threshold = float(np.quantile(np.concatenate(held), fpr))
    return NeighbourStore(centre, _coreset(_unit(x - centre), size, seed), k, threshold, fpr)


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
        d = _mapping(obj, path)
        if d.get("kind") != "wordpiece-coverage":
            raise ProfileError(f"{path}.kind must be 'wordpiece-coverage', got {d.get('kind')!r}")
        if d.get("vocabulary") != WORDPIECE_VOCAB:
            raise ProfileError(f"{path}.vocabulary must be {WORDPIECE_VOCAB!r}, got {d.get('vocabulary')!r}")
        return cls(_number(d.get("threshold"), f"{path}.threshold", 0.0, 1.0), WORDPIECE_VOCAB)


@dataclass(frozen=True)
class OODChecks:
    """The checks a profile carries; either may be absent. The script check goes first: a prompt the
    embedder cannot read has a meaningless similarity."""

    topic: NeighbourStore | None = None
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
        d = _mapping(obj, path)
        unknown = sorted(set(d) - {"topic", "script"})
        if unknown:
            raise ProfileError(f"{path} has unknown key(s) {', '.join(map(repr, unknown))}; expected 'topic', 'script'")
        topic = NeighbourStore.from_dict(d["topic"], f"{path}.topic") if "topic" in d else None
        script = ScriptCheck.from_dict(d["script"], f"{path}.script") if "script" in d else None
        return cls(topic, script)


def _mapping(obj: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ProfileError(f"{path} must be an object, got {type(obj).__name__}")
    return obj


def _number(v: Any, path: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ProfileError(f"{path} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def _integer(v: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ProfileError(f"{path} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _encode_f16(a: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(a, dtype="<f2").tobytes()
    return {"dtype": "float16", "shape": list(a.shape), "base64": base64.b64encode(data).decode("ascii")}


def _decode_f16(obj: Any, path: str) -> np.ndarray:
    d = _mapping(obj, path)
    if d.get("dtype") != "float16":
        raise ProfileError(f"{path}.dtype must be 'float16', got {d.get('dtype')!r}")
    shape = d.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and not isinstance(s, bool)
                                                                  for s in shape)):
        raise ProfileError(f"{path}.shape must be [rows, dim], got {shape!r}")
    rows, dim = _integer(shape[0], f"{path}.shape[0]", 1, MAX_STORE_SIZE), _integer(shape[1], f"{path}.shape[1]", 1,
                                                                                  65536)
    text = d.get("base64")
    if not isinstance(text, str) or len(text) > 4 * (2 * rows * dim + 2) // 3 + 4:
        raise ProfileError(f"{path}.base64 must be a string of {2 * rows * dim} bytes in base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProfileError(f"{path}.base64 is not valid base64") from None
    if len(raw) != 2 * rows * dim:
        raise ProfileError(f"{path}.base64 holds {len(raw)} bytes; shape {rows} x {dim} float16 needs {2 * rows * dim}")
    a = np.frombuffer(raw, dtype="<f2").reshape(rows, dim).astype(np.float16)
    if not np.isfinite(a).all():
        raise ProfileError(f"{path} holds a NaN or infinite value")
    return a
