#!/usr/bin/env bash
# The C core under AddressSanitizer + UndefinedBehaviorSanitizer, libFuzzer and valgrind.
#
#   bash .ci/sanitizers.sh            (from any directory; installs clang and valgrind if missing)
#
# 1. Compiles the cffi module with -fsanitize=address,undefined (gcc) into a temporary shadow
#    package and runs the C-facing pytest suites against it, with libasan preloaded; a positive
#    control first checks that an overrun is caught in that set-up.
# 2. Builds fuzz/fuzz_core.c with clang -fsanitize=fuzzer,address,undefined and fuzzes
#    cr_index_new / cr_route / cr_route_batch / cr_expected_errors / cr_rank_errors / cr_knn_* /
#    cr_hash_embed for FUZZ_SECONDS (default 90).
# 3. Runs the same harness, built without sanitizers, under valgrind over the corpus the
#    fuzzer grew.
# Exits non-zero on any finding; bounded in time (about 5-6 minutes on 2 cores, see README).
# Environment: FUZZ_SECONDS, PYTHON (default python3, which needs the package's test extras),
# CR_CSRC (default csrc/: point it at a patched copy to check a fix), KEEP_BUILD=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PYTHON=${PYTHON:-python3}
CSRC=$(cd "${CR_CSRC:-csrc}" && pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-90}
BUILD=$(mktemp -d /tmp/cactus-router-sanitizers.XXXXXX)
if [ "${KEEP_BUILD:-0}" != 1 ]; then trap 'rm -rf "$BUILD"' EXIT; fi
step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

step "tools"
need=()
command -v clang >/dev/null || need+=(clang)
command -v valgrind >/dev/null || need+=(valgrind)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
CLANG_MAJOR=$(clang -dumpversion | cut -d. -f1)
if [ ! -e "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ] &&
   [ ! -e "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a" ]; then
    [ -n "$(ls /var/lib/apt/lists/*Packages 2>/dev/null | head -1)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-${CLANG_MAJOR}-dev" >/dev/null
fi
clang --version | head -1
valgrind --version
gcc --version | head -1

# -----------------------------------------------------------------------------------------------
step "1/3 cffi module with -fsanitize=address,undefined (gcc), in a shadow package"
mkdir -p "$BUILD/pkg"
cp -r cactus_router "$BUILD/pkg/"
find "$BUILD/pkg/cactus_router" -name '_cr_core*' -delete
"$PYTHON" - "$BUILD" "$CSRC" <<'EOF'
import os, runpy, shutil, sys
from cffi import FFI

build, csrc = sys.argv[1], sys.argv[2]
# The project's own builder, so the module, its source and its flags cannot drift from setup.py.
project = runpy.run_path("csrc/build_ffi.py")["ffibuilder"]
name, source, _, kwargs = project._assigned_source
kwargs = dict(kwargs)
kwargs["sources"] = [os.path.join(csrc, os.path.basename(s)) for s in kwargs["sources"]]
kwargs["include_dirs"] = [csrc]
flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
kwargs["extra_compile_args"] = ["-O1", "-g", "-std=c99", "-Wall", "-Wextra", *flags]
kwargs["extra_link_args"] = flags
ffi = FFI()
with open(os.path.join(csrc, "cr_api.h"), encoding="utf-8") as fh:
    ffi.cdef(fh.read())
ffi.set_source(name, source, **kwargs)
so = ffi.compile(tmpdir=os.path.join(build, "cffi"))
shutil.copy(so, os.path.join(build, "pkg", "cactus_router"))
print("built", os.path.basename(so))
EOF
LIBASAN=$(gcc -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# cwd = the shadow package's folder: 'python -m' puts it first on sys.path, ahead of any install.
run_sanitized() { (cd "$BUILD/pkg" && LD_PRELOAD="$LIBASAN" PYTHONPATH="$BUILD/pkg" "$PYTHON" "$@"); }

run_sanitized -c '
import cactus_router._cr_core as m, sys
assert m.__file__.startswith(sys.argv[1]), m.__file__
print("sanitized module in use:", m.__file__)' "$BUILD/pkg"

step "1/3 positive control: an overrun through the sanitized module must be caught"
if run_sanitized -c '
from cactus_router._native import ffi, lib
out = ffi.new("float[]", 300)           # 1200 bytes: cffi takes them from malloc
lib.cr_hash_embed(b"hello world", 11, 4096, 600, out)   # told 600: writes past the end
' 2>"$BUILD/control.err"; then
    echo "FAIL: AddressSanitizer did not catch a deliberate overrun; the sanitizer runs below prove nothing"
    exit 1
fi
grep -q "heap-buffer-overflow" "$BUILD/control.err" || { cat "$BUILD/control.err"; echo "FAIL: unexpected control error"; exit 1; }
echo "ok: AddressSanitizer reported the deliberate heap-buffer-overflow"

step "1/3 pytest (C-facing suites) against the sanitized module"
run_sanitized -m pytest -q -p no:cacheprovider -x \
    "$REPO/tests/test_core.py" "$REPO/tests/test_router.py" "$REPO/tests/test_concurrency.py" \
    "$REPO/tests/test_hostile_profiles.py" "$REPO/tests/test_hostile_embedders.py" "$REPO/tests/test_policies.py" \
    "$REPO/tests/test_ood_routing.py" "$REPO/tests/test_maps_native.py" \
    -k "not cli and not tiny_routing_temperature"

# -----------------------------------------------------------------------------------------------
step "2/3 libFuzzer: fuzz/fuzz_core.c for ${FUZZ_SECONDS}s (clang -fsanitize=fuzzer,address,undefined)"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I"$CSRC" \
    fuzz/fuzz_core.c "$CSRC/cr_core.c" "$CSRC/cr_hash.c" "$CSRC/cr_maps.c" "$CSRC/cr_simd.c" -lm -o "$BUILD/fuzz_core"
mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
if ! (cd "$BUILD" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ./fuzz_core -max_total_time="$FUZZ_SECONDS" \
        -rss_limit_mb=2048 -timeout=10 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/" corpus > "$BUILD/fuzz.log" 2>&1); then
    grep -E "contract broken|ERROR|runtime error|SUMMARY" "$BUILD/fuzz.log" | head -20
    for a in "$BUILD"/artifacts/*; do
        echo "reproducer $(basename "$a"), base64: $(base64 -w0 "$a")"
    done
    echo "FAIL: the fuzzer found a crash or a broken contract; reproduce with:"
    echo "  echo BASE64 | base64 -d > crash && clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc fuzz/fuzz_core.c csrc/cr_core.c csrc/cr_hash.c csrc/cr_maps.c csrc/cr_simd.c -lm -o fuzz_core && ./fuzz_core crash"
    exit 1
fi
grep -E "^stat::number_of_executed_units|^stat::new_units_added|DONE" "$BUILD/fuzz.log" | tail -3

# -----------------------------------------------------------------------------------------------
step "3/3 valgrind: the harness without sanitizers over the fuzzer's corpus"
gcc -g -O1 -std=c99 -DCR_STANDALONE -I"$CSRC" fuzz/fuzz_core.c "$CSRC/cr_core.c" "$CSRC/cr_hash.c" "$CSRC/cr_maps.c" "$CSRC/cr_simd.c" -lm \
    -o "$BUILD/driver"
printf '#include <stdlib.h>\nint main(void){char *p=malloc(8);p[8]=1;return 0;}\n' > "$BUILD/control.c"
gcc -g -O0 "$BUILD/control.c" -o "$BUILD/control"
if valgrind -q --error-exitcode=99 "$BUILD/control" 2>/dev/null; then
    echo "FAIL: valgrind did not report a deliberate overrun (positive control)"; exit 1
fi
echo "ok: valgrind reported the deliberate overrun"
mapfile -t inputs < <(find "$BUILD/corpus" -type f | sort | head -n 400)
[ ${#inputs[@]} -gt 0 ] || { echo "FAIL: the fuzzer left no corpus"; exit 1; }
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$BUILD/driver" "${inputs[@]}"

step "done: no sanitizer, fuzzer or valgrind finding"
