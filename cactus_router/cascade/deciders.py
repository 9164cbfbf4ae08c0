"""Deciders: after a model answers and its answer is verified, keep the answer or escalate along the chain.

Each is fitted on a verification table and decides at a cost weight ``lam``: it maximises
``quality - lam * cost / top``, where ``top`` is the mean cost of calling the chain's last model
directly. Cost is honest: every answer generated plus every verification run.

- ``ThresholdDecider``: escalate from step i when its verification score is below ``t_i``; the
  thresholds are searched exhaustively on the table for each ``lam``.
- ``POMDPDecider`` (AutoMix): the hidden state is which chain models answer correctly; the
  observations are verification scores in ``bins`` equal-width bins, with an observation model
  fitted (Laplace-smoothed counts) on the table; the policy is solved exactly by dynamic
  programming over the observation histories of the 2- or 3-model chain. ``greedy=True`` is its
  one-step variant: compare stopping now with escalating once and stopping there.
- ``SelfConsistencyDecider``: AutoMix's majority rule, untrained: escalate while fewer than half
  the samples agree (the verification score read as an agreement share).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from ..errors import CascadeTableError
from .table import VerificationRow, check_chain

#: The cost weights a decider is fitted at and a curve is traced over.
LAMBDAS = tuple(float(x) for x in np.concatenate([[0.0], np.geomspace(1e-3, 1e2, 51)]))


@dataclass(frozen=True)
class ChainArrays:
    """A verification table as arrays for one chain: n rows, k models."""

    chain: tuple[str, ...]
    scores: np.ndarray  # (n, k)
    answer_costs: np.ndarray  # (n, k)
    verification: np.ndarray  # (n, k - 1)
    verify_costs: np.ndarray  # (n, k - 1)

    @classmethod
    def from_rows(cls, rows: Sequence[VerificationRow], chain: Sequence[str], where: str = "table") -> ChainArrays:
        check_chain(rows, chain, where)
        return cls(tuple(chain),
                   np.array([[r.scores[m] for m in chain] for r in rows]),
                   np.array([[r.costs[m] for m in chain] for r in rows]),
                   np.array([[r.verification[m] for m in chain[:-1]] for r in rows]).reshape(len(rows), -1),
                   np.array([[r.verify_costs.get(m, 0.0) for m in chain[:-1]] for r in rows]).reshape(len(rows), -1))

    def take(self, idx: np.ndarray) -> ChainArrays:
        return ChainArrays(self.chain, self.scores[idx], self.answer_costs[idx], self.verification[idx],
                           self.verify_costs[idx])

    @property
    def top(self) -> float:
        """Mean cost of calling the last model directly (the normaliser of every cost)."""
        return max(float(self.answer_costs[:, -1].mean()), 1e-12)

    def stop_costs(self) -> np.ndarray:
        """(n, k): the honest cost of a cascade that stops at each step."""
        ver = np.concatenate([self.verify_costs, np.zeros((len(self.scores), 1))], axis=1)
        out: np.ndarray = np.cumsum(self.answer_costs, axis=1) + np.cumsum(ver, axis=1)
        return out

    def outcome(self, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row quality and honest cost of stopping at ``stops`` (one step index per row)."""
        rows = np.arange(len(stops))
        return self.scores[rows, stops], self.stop_costs()[rows, stops]


class Decider(Protocol):
    """Decides, per row or per call, where a cascade stops."""

    @property
    def method(self) -> str:
        """The decider's name in a cascade file."""
        ...

    def stops(self, verification: np.ndarray, lam: float) -> np.ndarray:
        """The step each row stops at, given its verification scores (n, k - 1)."""
        ...

    def escalate(self, step: int, observed: Sequence[float], lam: float) -> bool:
        """After step ``step`` (0-based) with the verification scores ``observed`` of steps 0..step."""
        ...

    def to_dict(self) -> dict[str, Any]:
        ...


def _stops_from(escalate_at: np.ndarray) -> np.ndarray:
    """(n, k - 1) booleans "escalate after step i" -> the first step not escalated from."""
    n, km1 = escalate_at.shape
    go_on = np.cumprod(escalate_at, axis=1)  # still escalating after step i
    return go_on.sum(axis=1).astype(np.int64) if km1 else np.zeros(n, dtype=np.int64)


def _nearest(lam: float, grid: Sequence[float]) -> int:
    return int(np.argmin(np.abs(np.log1p(np.asarray(grid)) - np.log1p(max(lam, 0.0)))))


@dataclass(frozen=True)
class ThresholdDecider:
    """Escalate from step i when its verification score is below ``thresholds[lam][i]``."""

    lambdas: tuple[float, ...]
    thresholds: tuple[tuple[float, ...], ...]
    method: str = "threshold"

    @classmethod
    def fit(cls, arr: ChainArrays, lambdas: Sequence[float] = LAMBDAS, candidates: int = 33) -> ThresholdDecider:
        per_step = []
        for i in range(arr.verification.shape[1]):
            # "escalate below t" for t each observed score (or its quantiles when there are many), and "always"
            seen = np.unique(arr.verification[:, i])
            if len(seen) > candidates:
                seen = np.unique(np.quantile(seen, np.linspace(0, 1, candidates)))
            per_step.append(np.concatenate([[0.0], seen, [1.0 + 1e-9]]))
        combos = list(itertools.product(*per_step))
        q = np.empty(len(combos))
        c = np.empty(len(combos))
        for j, t in enumerate(combos):
            quality, cost = arr.outcome(_stops_from(arr.verification < np.asarray(t)))
            q[j], c[j] = quality.mean(), cost.mean() / arr.top
        best = [combos[int(np.argmax(q - lam * c))] for lam in lambdas]
        return cls(tuple(lambdas), tuple(tuple(float(x) for x in t) for t in best))

    def _at(self, lam: float) -> tuple[float, ...]:
        return self.thresholds[_nearest(lam, self.lambdas)]

    def stops(self, verification: np.ndarray, lam: float) -> np.ndarray:
        return _stops_from(verification < np.asarray(self._at(lam)))

    def escalate(self, step: int, observed: Sequence[float], lam: float) -> bool:
        return bool(observed[step] < self._at(lam)[step])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "lambdas": list(self.lambdas), "thresholds": [list(t) for t in self.thresholds]}


@dataclass(frozen=True)
class SelfConsistencyDecider:
    """Escalate while fewer than half of the samples agree with the answer (untrained)."""

    method: str = "self-consistency"

    def stops(self, verification: np.ndarray, lam: float) -> np.ndarray:
        return _stops_from(verification < 0.5)

    def escalate(self, step: int, observed: Sequence[float], lam: float) -> bool:
        return bool(observed[step] < 0.5)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method}


@dataclass(frozen=True)
class POMDPDecider:
    """AutoMix's POMDP over the chain's correctness states, solved exactly (or greedily) per cost weight.

    ``prior[s]`` and ``obs[i][s][b]`` are smoothed counts; ``quality[s][j]`` is model j's mean score
    in state s; ``answer_cost`` and ``verify_cost`` are mean costs over ``top``.
    """

    bins: int
    prior: tuple[float, ...]
    obs: tuple[tuple[tuple[float, ...], ...], ...]
    quality: tuple[tuple[float, ...], ...]
    answer_cost: tuple[float, ...]
    verify_cost: tuple[float, ...]
    greedy: bool = False
    method: str = "pomdp"

    @classmethod
    def fit(cls, arr: ChainArrays, bins: int = 8, greedy: bool = False, alpha: float = 1.0) -> POMDPDecider:
        n, k = arr.scores.shape
        if k > 3:
            raise CascadeTableError(f"the POMDP decider solves chains of 2 or 3 models, not {k}")
        states = (arr.scores >= 0.5).astype(np.int64) @ (1 << np.arange(k))
        ns = 1 << k
        prior = np.bincount(states, minlength=ns) + alpha
        b = _bin(arr.verification, bins)
        obs = np.full((k - 1, ns, bins), alpha)
        for i in range(k - 1):
            np.add.at(obs[i], (states, b[:, i]), 1.0)
        quality = np.empty((ns, k))
        for s in range(ns):
            bits = np.array([(s >> j) & 1 for j in range(k)], dtype=np.float64)
            members = states == s
            quality[s] = arr.scores[members].mean(axis=0) if members.any() else bits
        top = arr.top
        return cls(bins, tuple(prior.tolist()), tuple(tuple(tuple(r) for r in o.tolist()) for o in obs),
                   tuple(tuple(r) for r in quality.tolist()),
                   tuple((arr.answer_costs.mean(axis=0) / top).tolist()),
                   tuple((arr.verify_costs.mean(axis=0) / top).tolist()), greedy,
                   "pomdp-greedy" if greedy else "pomdp")

    @property
    def k(self) -> int:
        return len(self.answer_cost)

    def _stop_cost(self, step: int) -> float:
        return sum(self.answer_cost[: step + 1]) + sum(self.verify_cost[: min(step + 1, self.k - 1)])

    def _belief(self, history: tuple[int, ...]) -> np.ndarray:
        b = np.asarray(self.prior, dtype=np.float64).copy()
        for i, o in enumerate(history):
            obs = np.asarray(self.obs[i])
            b *= obs[:, o] / obs.sum(axis=1)
        out: np.ndarray = b / b.sum()
        return out

    def _stop_value(self, b: np.ndarray, step: int, lam: float) -> float:
        return float(b @ np.asarray(self.quality)[:, step]) - lam * self._stop_cost(step)

    def _value(self, history: tuple[int, ...], lam: float) -> float:
        """Best expected value once steps 0..len(history)-1 have answered and been verified."""
        step = len(history) - 1
        return max(self._stop_value(self._belief(history), step, lam), self._continue(history, lam))

    def _continue(self, history: tuple[int, ...], lam: float) -> float:
        step = len(history) - 1
        b = self._belief(history)
        nxt = step + 1
        if nxt == self.k - 1 or self.greedy:
            # the last model is not verified; the greedy variant stops at the next model without verifying it
            return float(b @ np.asarray(self.quality)[:, nxt]) - lam * (self._stop_cost(step) + self.answer_cost[nxt])
        obs = np.asarray(self.obs[nxt])
        p_obs = b @ (obs / obs.sum(axis=1, keepdims=True))
        return float(sum(p_obs[o] * self._value((*history, o), lam) for o in range(self.bins)))

    def _escalates(self, history: tuple[int, ...], lam: float) -> bool:
        return _cached_escalates(self, history, lam)

    def stops(self, verification: np.ndarray, lam: float) -> np.ndarray:
        b = _bin(verification, self.bins)
        esc = np.zeros_like(b, dtype=bool)
        for r in range(len(b)):
            for i in range(self.k - 1):
                esc[r, i] = self._escalates(tuple(int(x) for x in b[r, : i + 1]), lam)
        return _stops_from(esc)

    def escalate(self, step: int, observed: Sequence[float], lam: float) -> bool:
        history = tuple(int(x) for x in _bin(np.asarray(observed[: step + 1])[None, :], self.bins)[0])
        return self._escalates(history, lam)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "bins": self.bins, "prior": list(self.prior),
                "obs": [[list(r) for r in o] for o in self.obs], "quality": [list(r) for r in self.quality],
                "answer_cost": list(self.answer_cost), "verify_cost": list(self.verify_cost)}


@lru_cache(maxsize=65536)
def _cached_escalates(d: POMDPDecider, history: tuple[int, ...], lam: float) -> bool:
    step = len(history) - 1
    return d._continue(history, lam) > d._stop_value(d._belief(history), step, lam)


def _bin(v: np.ndarray, bins: int) -> np.ndarray:
    out: np.ndarray = np.minimum((np.asarray(v) * bins).astype(np.int64), bins - 1)
    return out


def decider_from_dict(obj: Mapping[str, Any]) -> Decider:
    """The decider a ``to_dict`` wrote."""
    method = obj.get("method")
    try:
        if method == "threshold":
            return ThresholdDecider(tuple(obj["lambdas"]), tuple(tuple(t) for t in obj["thresholds"]))
        if method == "self-consistency":
            return SelfConsistencyDecider()
        if method in ("pomdp", "pomdp-greedy"):
            return POMDPDecider(int(obj["bins"]), tuple(obj["prior"]),
                                tuple(tuple(tuple(r) for r in o) for o in obj["obs"]),
                                tuple(tuple(r) for r in obj["quality"]), tuple(obj["answer_cost"]),
                                tuple(obj["verify_cost"]), method == "pomdp-greedy", method)
    except (KeyError, TypeError, ValueError) as exc:
        raise CascadeTableError(f"cascade file: decider {method!r} is malformed ({type(exc).__name__}: {exc})"
                                ) from None
    raise CascadeTableError(f"cascade file: unknown decider method {method!r}")


__all__ = ["LAMBDAS", "ChainArrays", "Decider", "POMDPDecider", "SelfConsistencyDecider", "ThresholdDecider",
           "decider_from_dict"]
