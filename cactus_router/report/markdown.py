"""The side-by-side comparison of an evaluation summary as rows and as a markdown table."""

from __future__ import annotations

from typing import Any

from ..evaluation import ROUTER, SINGLES


def fmt(x: Any, digits: int = 3) -> str:
    """A table cell: n/a for None, floats to ``digits`` decimals."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def comparison_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per router at the primary operating point, with its curve's figures where it has one."""
    point = next(p for p in summary["operating_points"] if p["cost_bias"] == summary["primary_cost_bias"])
    out = []
    for name, m in point["routers"].items():
        c = summary["curves"].get(name, {})
        out.append({"router": name, **{k: v for k, v in m.items() if k != "choice_counts"}, **_curve_cells(c),
                    "curve": name in summary["curves"]})
    singles = summary["curves"].get(SINGLES)
    if singles:
        out.append({"router": SINGLES + " (hull)", **_curve_cells(singles), "curve": True})
    return out


def _curve_cells(c: dict[str, Any]) -> dict[str, Any]:
    ci = c.get("ci95", {})
    return {"area": c.get("area"), "qnc": c.get("qnc"), "curve_best_quality": c.get("best_quality"),
            "area_ci95": ci.get("area"), "qnc_ci95": ci.get("qnc"), "curve_best_quality_ci95": ci.get("best_quality")}


def _with_interval(x: float | None, ci: list[float | None] | None) -> str:
    """``0.557 [0.531, 0.581]``; None (a QNC never reached) reads "not reached"."""
    def one(v: float | None) -> str:
        return "not reached" if v is None else f"{v:.3f}"

    return one(x) if ci is None else f"{one(x)} [{one(ci[0])}, {one(ci[1])}]"


def markdown_table(summary: dict[str, Any]) -> str:
    """The side-by-side comparison as a markdown table (primary operating point, curve figures)."""
    boot = summary.get("bootstrap")
    ci = "" if boot is None else " [95% CI]"
    lines = ["| router | quality | norm. cost | savings vs best single | oracle agreement | "
             f"area{ci} | QNC{ci} | best quality{ci} |", "|---|---|---|---|---|---|---|---|"]
    for r in comparison_rows(summary):
        cells = [r["router"]]
        cells += [fmt(r[k]) if k in r else "" for k in
                  ("quality", "cost_normalised", "savings_vs_best_single", "oracle_agreement")]
        if r["curve"]:
            cells += [_with_interval(r[k], r[f"{k}_ci95"]) for k in ("area", "qnc", "curve_best_quality")]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    if boot is not None:
        lines += ["", f"{ROUTER} minus each other router, paired over {boot['resamples']} bootstrap resamples of the "
                  "rows (difference [95% CI], share of resamples where it is ahead):", "",
                  "| versus | area | best quality |", "|---|---|---|"]
        for name, d in boot["paired"].items():
            lines.append(f"| {name} | " + " | ".join(
                f"{d[k]['difference']:+.3f} [{d[k]['ci95'][0]:+.3f}, {d[k]['ci95'][1]:+.3f}], "
                f"{d[k]['share_router_better']:.1%}" for k in ("area", "best_quality")) + " |")
    return "\n".join(lines)
