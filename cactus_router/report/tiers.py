"""The tier tables of an evaluation summary (its ``tiers`` entry) in markdown."""

from __future__ import annotations

from typing import Any

from ..tiers import TIERS
from .markdown import fmt


def _ci(x: float | None, ci: list[float | None] | None, *, percent: bool = False, missing: str = "n/a") -> str:
    """``0.557 [0.531, 0.581]`` (or percentages); None reads ``missing``."""
    def one(v: float | None, none: str) -> str:
        if v is None:
            return none
        return f"{v:.1%}" if percent else f"{v:.3f}"

    text = one(x, missing)
    return text if ci is None else f"{text} [{one(ci[0], missing)}, {one(ci[1], missing)}]"


def confusion_rows(tiers: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The confusion matrix (rows: the oracle's tier; columns: the router's), with recall and precision."""
    counts = tiers["confusion"]["counts"]
    per = tiers["per_tier"]
    rows = [[tier, *(str(c) for c in counts[i]), fmt(per[tier]["recall"])] for i, tier in enumerate(TIERS)]
    rows.append(["precision", *(fmt(per[t]["precision"]) for t in TIERS), ""])
    return ["oracle \\ tier router", *TIERS, "recall"], rows


def router_rows(tiers: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Quality, cost and the cost saved at always-large's quality of every router on the same rows."""
    rows = []
    for name, r in tiers["routers"].items():
        saved = _ci(r.get("savings_at_large_quality"), r.get("savings_at_large_quality_ci95"), percent=True,
                    missing="not reached")
        if "quality" in r:
            rows.append([name, _ci(r["quality"], r.get("quality_ci95")),
                         _ci(r["cost_normalised"], r.get("cost_normalised_ci95")), f"{r['large_share']:.1%}", saved])
        else:
            rows.append([name, f"best {_ci(r['best_quality'], r.get('best_quality_ci95'))}", "", "", saved])
    return ["router", "quality [95% CI]", "cost (always-large = 1) [95% CI]", "sent to large",
            "cost saved at always-large's quality [95% CI]"], rows


def ambiguous_line(tiers: dict[str, Any]) -> str:
    """The share routed to Ambiguous and what the answers there score."""
    return (f"Routed to Ambiguous: {_ci(tiers['ambiguous_share'], tiers.get('ambiguous_share_ci95'), percent=True)} "
            f"of the rows; the tier router's answers there score "
            f"{_ci(tiers['ambiguous_score'], tiers.get('ambiguous_score_ci95'))} (always-medium's "
            f"{fmt(tiers['ambiguous_medium_score'])}, always-large's {fmt(tiers['ambiguous_large_score'])}).")


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|---" * len(headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def tier_markdown(tiers: dict[str, Any]) -> str:
    """The tier section of an evaluation: accuracy, the confusion matrix, the routers, the Ambiguous share."""
    pm = ", ".join(f"{t} -> {', '.join(ms)}" for t, ms in tiers["policy_map"].items())
    boot = f", 95% intervals over {tiers['resamples']} bootstrap resamples" if tiers["resamples"] else ""
    lines = [
        f"Tiers against {tiers['medium']} (medium) and {tiers['large']} (large); labels: {tiers['labels']}; "
        f"tier router's map: {pm}{boot}.", "",
        f"Tier accuracy {_ci(tiers['accuracy'], tiers.get('accuracy_ci95'))} on {tiers['labelled_rows']} labelled "
        f"rows of {tiers['rows']}.", "", _markdown(*confusion_rows(tiers)), "", _markdown(*router_rows(tiers)), "",
        ambiguous_line(tiers),
    ]
    return "\n".join(lines)
