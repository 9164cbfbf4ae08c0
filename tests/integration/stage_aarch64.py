"""Stages cactus-router for an aarch64 CPython: the pure-Python package plus _cr_core cross-compiled.

Run with the HOST Python (it needs the host's cffi to emit the C source of csrc/build_ffi.py):

    python tests/integration/stage_aarch64.py STAGE_DIR --cc aarch64-linux-gnu-gcc \
        --python-include SYSROOT/usr/include/python3.11 \
        --python-include SYSROOT/usr/include/aarch64-linux-gnu/python3.11

STAGE_DIR/cactus_router is then importable by the aarch64 interpreter (put STAGE_DIR on its path).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stage(out: Path, cc: str, includes: list[str], soabi: str) -> Path:
    """Copy the package into ``out`` and build ``cactus_router/_cr_core`` for the target with ``cc``."""
    pkg = out / "cactus_router"
    if pkg.exists():
        shutil.rmtree(pkg)
    shutil.copytree(ROOT / "cactus_router", pkg,
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "_cr_core.c"))
    sys.path.insert(0, str(ROOT))
    cwd = os.getcwd()
    os.chdir(ROOT)  # build_ffi.py uses paths relative to the checkout
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_cr_build_ffi", ROOT / "csrc" / "build_ffi.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        csrc_out = out / "_cr_core.c"
        mod.ffibuilder.emit_c_code(str(csrc_out))
        sources = [str(ROOT / s) for s in mod.SOURCES]
    finally:
        os.chdir(cwd)
    target = pkg / f"_cr_core.{soabi}.so"
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c99", "-I", str(ROOT / "csrc"),
           *(f"-I{inc}" for inc in includes), str(csrc_out), *sources, "-lm", "-o", str(target)]
    subprocess.run(cmd, check=True)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cc", default="aarch64-linux-gnu-gcc")
    ap.add_argument("--python-include", action="append", default=[])
    ap.add_argument("--soabi", default="cpython-311-aarch64-linux-gnu")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(stage(args.out, args.cc, args.python_include, args.soabi))


if __name__ == "__main__":
    main()
