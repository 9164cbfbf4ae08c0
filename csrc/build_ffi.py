"""cffi builder of cactus_router._cr_core (API mode: the compiler checks cr_api.h)."""

import sys

from cffi import FFI

HEADER = "csrc/cr_api.h"
SOURCES = ["csrc/cr_core.c", "csrc/cr_hash.c", "csrc/cr_maps.c", "csrc/cr_ood.c", "csrc/cr_simd.c"]

ffibuilder = FFI()
with open(HEADER, encoding="utf-8") as fh:
    ffibuilder.cdef(fh.read())

ffibuilder.set_source(
    "cactus_router._cr_core",
    '#include <stddef.h>\n#include <stdint.h>\n#include "cr_api.h"\n',
    sources=SOURCES,
    include_dirs=["csrc"],
    extra_compile_args=[] if sys.platform == "win32" else ["-O3", "-std=c99", "-Wall", "-Wextra"],
    libraries=[] if sys.platform == "win32" else ["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
