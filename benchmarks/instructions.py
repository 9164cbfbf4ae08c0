"""Instructions per routing call under callgrind: a measure of work that other jobs on the machine do not change.

    python benchmarks/instructions.py [--calls N] [--parts] [WHAT ...]

WHAT (default: all): ``default`` (``route_embedding`` on the bundled default profile, the probe
embedding of test_bench_core.py), ``reference`` (the NumPy soft rule of test_bench_core.py on
the same embedding), ``hard`` (``route_embedding``, K = 16, D = 1024, M = 12, hard assignment),
``loop`` (an empty call: the timing loop's own cost, included in every other figure), and the
parts of a default-profile route in ``PARTS`` (``--parts``: internal API, so the list follows
the code).

Each runs in a child process under ``valgrind --tool=callgrind --instr-atstart=no``: it warms up
with 1,000 calls, then counts only the N timed calls (default 2,000), by callgrind's client
requests in a three-line C helper compiled here with ``cc`` (valgrind and its headers are
needed). Instructions are not time (their cost differs between C, NumPy and the interpreter), but
on a loaded machine they are a figure that repeats to the instruction.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHATS = ("default", "reference", "hard", "loop")
#: The parts of one default-profile route, each timed alone on the same embedding (internal API:
#: this list follows the code): the bare C call, Index.choose (C with the binding around it),
#: Scorer.choose (and the ranking object), the Decision, the policy context, each policy (the tier
#: policy on a fresh draft with its context, as in a route: subtract those two), the embedding check.
PARTS = ("c-call", "binding", "scorer", "decision", "context", "ood", "tier", "check")
HELPER = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""


def _call(what: str):
    """The zero-argument call that ``what`` times."""
    import numpy as np
    from test_bench_core import _default, _setup, numpy_route_soft

    if what == "loop":
        return lambda: None
    if what == "hard":
        _, router, e = _setup(16, 1024)
        return lambda: router.route_embedding(e)
    prof, router, vecs = _default()
    v = vecs[0]
    if what == "default":
        return lambda: router.route_embedding(v)
    if what in PARTS:
        return _part(what, router, v)
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    costs = np.array([m.cost for m in prof.models])
    ncost = (costs - costs.min()) / (costs.max() - costs.min())
    args = (cent, prof.error_matrix(), ncost, list(prof.model_ids), v, prof.routing.lam(), prof.routing.temperature)
    return lambda: numpy_route_soft(*args)


def _part(what: str, router, v):
    """One part of ``router.route_embedding(v)`` on its own, with the inputs that route gives it."""
    from cactus_router._native import _FLOATS, ffi, lib
    from cactus_router.routing.decision import new_decision
    from cactus_router.routing.policies import PolicyContext
    from cactus_router.routing.request import RouteRequest
    from cactus_router.routing.vectors import given_embeddings

    pipeline, request = router.pipeline, RouteRequest()
    scorer, prof = pipeline.scorer, pipeline.profile
    elig, (bias, lam), t = scorer.eligibility(request), pipeline.knobs(request), scorer.temperature
    c = scorer.choose(v, elig, lam)
    d = new_decision(scorer.ids[c[4]], c[0], c[1], c[2], c[5], scorer.cost_of[c[4]], c[6], c[3], bias, 0.0, 0.0)
    ood, tier = pipeline.policies
    params, res, ranking, scores, errors, work = scorer.index._buffers()[:6]
    params.lam, params.temperature = lam, t
    buf, handle, n = ffi.from_buffer(_FLOATS, v), scorer.index._handle, len(elig.indices)

    def tiered():  # on a fresh draft each time, as in a route
        draft = new_decision(*args)
        tier.apply(draft, request, PolicyContext.one(prof, scorer, elig, lam, v, None, c[7], draft))

    args = (d.model, d.cluster, d.similarity, d.margin, d.expected_error, d.cost, d.score, d.ranking, bias, 0.0, 0.0)
    context = PolicyContext.one(prof, scorer, elig, lam, v, None, c[7], d)
    return {"c-call": lambda: lib.cr_route(handle, buf, v.shape[0], elig.buffer, params, res, ranking, scores,
                                           errors, work),
            "binding": lambda: scorer.index.choose(v, elig.buffer, n, lam, t),
            "scorer": lambda: scorer.choose(v, elig, lam),
            "decision": lambda: new_decision(*args),
            "context": lambda: PolicyContext.one(prof, scorer, elig, lam, v, None, c[7], d),
            "ood": lambda: ood.apply(d, request, context),
            "tier": tiered,
            "check": lambda: given_embeddings(v, v.shape[0], many=False, what="embedding")}[what]


def child(what: str, calls: int, helper: str) -> None:
    """Run under callgrind: warm up, then count ``calls`` calls between the helper's requests."""
    import ctypes
    import warnings

    warnings.simplefilter("ignore")  # the stub embedder's probe mismatch, as in test_bench_core.py
    sys.path.insert(0, str(HERE))
    f = _call(what)
    for _ in range(1000):
        f()
    cg = ctypes.CDLL(helper)
    cg.cg_start()
    for _ in range(calls):
        f()
    cg.cg_stop()


def count(what: str, calls: int, helper: Path, tmp: Path) -> int:
    """Instructions per call of ``what``, from the dump the helper's stop request writes."""
    out = tmp / f"callgrind.{what}"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
           __file__, "--child", what, "--calls", str(calls), "--helper", str(helper)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dump = out.with_name(out.name + ".1")
    totals = [line.split()[1] for line in dump.read_text().splitlines() if line.startswith("totals:")]
    if not totals:
        raise SystemExit(f"no totals in {dump}: did the helper's requests run?")
    return int(totals[0]) // calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help=f"any of {', '.join(WHATS)} (default: all)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--parts", action="store_true", help="also the parts of a default-profile route")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls, args.helper)
        return
    unknown = [w for w in args.what if w not in (*WHATS, *PARTS)]
    if unknown:
        parser.error(f"unknown {unknown[0]!r}; choose from {', '.join((*WHATS, *PARTS))}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "cg.c").write_text(HELPER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", str(tmp / "cg.c"), "-o", str(tmp / "cg.so")], check=True)
        for what in args.what or ((*WHATS, *PARTS) if args.parts else WHATS):
            print(f"{what}: {count(what, args.calls, tmp / 'cg.so', tmp):,} instructions per call", flush=True)


if __name__ == "__main__":
    main()
