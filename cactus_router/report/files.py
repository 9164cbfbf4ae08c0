"""The output folder of an evaluation: results.json, summary.json, the CSVs, the charts and report.html."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import check_output, write_atomic
from ..metrics import pareto
from .charts import render_charts
from .html import report_html

if TYPE_CHECKING:
    from ..evaluation import Evaluation


def agreement_csv(ev: Evaluation) -> str:
    """The agreement matrix: one row per chosen model, one column per oracle model."""
    ids = ev.table.model_ids
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["chosen \\ oracle", *ids])
    for j, m in enumerate(ids):
        w.writerow([m, *[int(x) for x in ev.agreement[j]]])
    return buf.getvalue()


def curves_csv(ev: Evaluation) -> str:
    """Every curve's points, with their parameter and whether each is on the curve's Pareto front."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["router", "parameter", "cost_normalised", "quality", "pareto"])
    for name, pts in ev.curves.items():
        front = set(pareto([p for _, p in pts]))
        for param, p in pts:
            w.writerow([name, param, f"{p.cost:.6f}", f"{p.quality:.6f}", int(p in front)])
    return buf.getvalue()


def output_files(ev: Evaluation, *, charts: bool = True, report: bool = False) -> dict[str, str | bytes]:
    """The contents of every output file by name, in the order they are written.

    Raises:
        RouterError: charts or the report were asked for and matplotlib is missing.
    """
    files: dict[str, str | bytes] = {
        "results.json": json.dumps({"models": list(ev.table.model_ids), "decisions": ev.decisions},
                                   ensure_ascii=False) + "\n",
        "summary.json": json.dumps(ev.summary, indent=1) + "\n",
        "agreement_matrix.csv": agreement_csv(ev),
        "deferral_curve.csv": curves_csv(ev),
    }
    if charts or report:
        pngs = render_charts(ev)
        files.update({f"{name}.png": png for name, png in pngs.items()})
        if report:
            files["report.html"] = report_html(ev, pngs)
    return files


def write_outputs(ev: Evaluation, out_dir: str | os.PathLike[str], *, charts: bool = True, report: bool = False,
                  follow_symlinks: bool = False) -> list[Path]:
    """Write results.json, summary.json, agreement_matrix.csv, deferral_curve.csv, charts, report.html.

    Every file is checked, then each is written by ``_files.write_atomic`` (``follow_symlinks`` as there).

    Raises:
        RouterError: charts or the report were asked for and matplotlib is missing.
        OutputError: one of the files exists and is not a regular file (or is a symbolic link).
    """
    files = output_files(ev, charts=charts, report=report)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in files:  # refuse before any file changes, so the folder is not left half old, half new
        check_output(out / name, follow_symlinks=follow_symlinks)
    for name, data in files.items():
        write_atomic(out / name, data, follow_symlinks=follow_symlinks)
    return [out / name for name in files]
