"""The service's Prometheus metrics, kept in memory and written in the text exposition format.

Written by hand (a few counters and histograms) rather than with prometheus_client, so the
extra stays small; every update happens on the event loop's thread, so no lock is needed.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

#: Histogram bucket bounds, in seconds: from sub-millisecond scoring to a slow backend.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
           5.0, 10.0, 30.0)


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


class Histogram:
    """Cumulative-bucket histogram of durations, one series per label value."""

    def __init__(self, name: str, help_text: str, label: str | None = None) -> None:
        self.name = name
        self.help = help_text
        self.label = label
        self._series: dict[str, tuple[list[int], list[float]]] = {}

    def observe(self, seconds: float, label: str = "") -> None:
        """Count one duration (in the series of ``label``)."""
        counts, total = self._series.setdefault(label, ([0] * (len(BUCKETS) + 1), [0.0]))
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        total[0] += seconds

    def lines(self) -> list[str]:
        """The histogram's exposition lines."""
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for value, (counts, total) in sorted(self._series.items()):
            base = [(self.label, value)] if self.label else []
            running = 0
            for bound, n in zip((*[f"{b:g}" for b in BUCKETS], "+Inf"), counts):
                running += n
                out.append(f"{self.name}_bucket{_labels([*base, ('le', bound)])} {running}")
            out.append(f"{self.name}_sum{_labels(base)} {total[0]:.9g}")
            out.append(f"{self.name}_count{_labels(base)} {running}")
        return out


class Metrics:
    """Decisions per model and tier, responses per endpoint and status, and the latency histograms."""

    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.responses: Counter[tuple[str, str]] = Counter()
        self.rejected_busy = 0
        self.embed = Histogram("cactus_router_embed_seconds", "Embedding time of one routing request.")
        self.score = Histogram("cactus_router_score_seconds", "Scoring and policy time of one routing request.")
        self.request = Histogram("cactus_router_request_seconds", "Whole-request time, by endpoint.", "endpoint")

    def decided(self, model: str, tier: str) -> None:
        """Count one routing decision."""
        self.decisions[(model, tier)] += 1

    def responded(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one response and its whole time."""
        self.responses[(endpoint, str(status))] += 1
        self.request.observe(seconds, endpoint)

    def render(self, in_flight: int) -> str:
        """Every metric in the Prometheus text format (version 0.0.4)."""
        out = ["# HELP cactus_router_decisions_total Routing decisions, by chosen model and tier.",
               "# TYPE cactus_router_decisions_total counter"]
        out += [f"cactus_router_decisions_total{_labels([('model', m), ('tier', t)])} {n}"
                for (m, t), n in sorted(self.decisions.items())]
        out += ["# HELP cactus_router_responses_total HTTP responses, by endpoint and status.",
                "# TYPE cactus_router_responses_total counter"]
        out += [f"cactus_router_responses_total{_labels([('endpoint', e), ('status', s)])} {n}"
                for (e, s), n in sorted(self.responses.items())]
        out += ["# HELP cactus_router_rejected_busy_total Requests answered 429 because the embedding queue was full.",
                "# TYPE cactus_router_rejected_busy_total counter",
                f"cactus_router_rejected_busy_total {self.rejected_busy}",
                "# HELP cactus_router_in_flight Routing requests running or queued for a worker.",
                "# TYPE cactus_router_in_flight gauge", f"cactus_router_in_flight {in_flight}"]
        for h in (self.embed, self.score, self.request):
            out += h.lines()
        return "\n".join(out) + "\n"
