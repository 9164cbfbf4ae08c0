"""Print, after the benchmark table, each cactus-router benchmark's speed-up over its reference.

A benchmark named ``test_x[...]`` with a reference ``test_x_reference[...]`` (same params) in the
same run is reported as ``median(reference) / median(x)``.
"""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    medians = {b.fullname: b.stats.median for b in session.benchmarks if b.stats}
    rows = []
    for name, median in sorted(medians.items()):
        base, _, params = name.partition("[")
        ref = f"{base}_reference[{params}" if params else f"{base}_reference"
        if ref in medians:
            rows.append(f"{name}: median {median * 1e6:.2f} us, reference {medians[ref] * 1e6:.2f} us, "
                        f"speed-up x{medians[ref] / median:.1f}")
    if rows:
        terminalreporter.write_sep("-", "speed-up against the reference measured in the same run")
        for row in rows:
            terminalreporter.write_line(row)
