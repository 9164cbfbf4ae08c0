"""Print, after the benchmark table, each cactus-router benchmark's speed-up over its reference.

A benchmark named ``test_x[...]`` with a reference ``test_x_reference[...]`` or
``test_x_reference_<what>[...]`` (same params) in the same run is reported as
``median(reference) / median(x)``, once per reference.
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
        for ref, ref_median in sorted(medians.items()):
            ref_base, _, ref_params = ref.partition("[")
            if ref_params == params and (ref_base == f"{base}_reference" or ref_base.startswith(f"{base}_reference_")):
                rows.append(f"{name}: median {median * 1e6:.2f} us, {ref_base[len(base) + 1:]} "
                            f"{ref_median * 1e6:.2f} us, speed-up x{ref_median / median:.1f}")
    if rows:
        terminalreporter.write_sep("-", "speed-up against the reference measured in the same run")
        for row in rows:
            terminalreporter.write_line(row)
