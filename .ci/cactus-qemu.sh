#!/usr/bin/env bash
# Runs tests/integration (CactusEmbedder, and CactusGenerator's cactus_complete on a tiny generating
# bundle, against the REAL aarch64 libcactus from the cactus-compute wheel) on an x86_64 machine
# under qemu-user. Installs what it needs with apt-get and pip, caches
# downloads under build/qemu-cache/ (git-ignored via build/), exits non-zero on any failure.
# On an aarch64 machine use .github/workflows/arm.yml's native steps instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/build/qemu-cache
SYSROOT=$CACHE/sysroot          # Debian arm64 CPython 3.11 + its libraries, extracted with dpkg -x
SITE=$CACHE/site-packages       # aarch64 wheels installed with pip --target
STAGE=$ROOT/build/qemu-stage    # cactus_router with _cr_core cross-compiled for aarch64
PY_TAG=(--platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64
        --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:)
# Pinned so a cached site-packages matches a fresh one; cactus-compute is the version
# third_party/cactus/VERSION was taken from.
WHEELS=(cactus-compute==2.2.2 cffi==2.1.1 numpy==2.4.6 pytest==9.2.0 scikit-learn==1.9.1)
DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11-dev zlib1g libexpat1 libffi8
      libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1 libdb5.3 libgdbm6
      libnsl2 libtirpc3 libcrypt1 libgcc-s1 libstdc++6 libgomp1)
start=$SECONDS
say() { echo "[cactus-qemu +$((SECONDS - start))s] $*"; }

if [ "$(uname -m)" = aarch64 ]; then
  echo "cactus-qemu.sh: this machine is aarch64; run the tests natively (see .github/workflows/arm.yml)" >&2
  exit 2
fi

# 1. Host tools: qemu-user, the aarch64 cross compiler and C library, arm64 packages for apt.
need=()
for pkg in qemu-user gcc-aarch64-linux-gnu libc6-arm64-cross libc6-dev-arm64-cross; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  need+=(__update__)
fi
if [ ${#need[@]} -gt 0 ]; then
  say "installing host packages: ${need[*]}"
  apt-get update -qq
  pkgs=("${need[@]/__update__/}")
  if [ -n "$(echo "${pkgs[*]}" | tr -d ' ')" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${pkgs[*]} >/dev/null
  fi
fi

# 2. An aarch64 CPython from Debian's arm64 packages (cached).
if [ ! -x "$SYSROOT/usr/bin/python3.11" ]; then
  say "fetching Debian arm64 CPython packages"
  mkdir -p "$CACHE/debs" && rm -rf "$SYSROOT" && mkdir -p "$SYSROOT"
  (cd "$CACHE/debs" && apt-get download -qq "${DEBS[@]/%/:arm64}" 2>/dev/null) || {
    apt-get update -qq && (cd "$CACHE/debs" && apt-get download -qq "${DEBS[@]/%/:arm64}"); }
  for deb in "$CACHE"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
fi
LIBPATH=$SYSROOT/lib/aarch64-linux-gnu:$SYSROOT/usr/lib/aarch64-linux-gnu
qpy() {
  qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH="$LIBPATH" -E PYTHONPATH="$STAGE:$SITE" \
    -E PYTHONDONTWRITEBYTECODE= -E CI="${CI:-}" "$SYSROOT/usr/bin/python3.11" -P "$@"
}

# 3. aarch64 wheels: the library (cactus-compute, without its heavy Python dependencies, which the
#    engine does not need) and what cactus-router's import, training and pytest need.
stamp="$SITE/.wheels-$(echo "${WHEELS[*]}" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  say "installing aarch64 wheels: ${WHEELS[*]}"
  rm -rf "$SITE" && mkdir -p "$SITE"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$SITE" "${PY_TAG[@]}" "${WHEELS[0]}"
  python3 -m pip install --quiet --disable-pip-version-check --target "$SITE" "${PY_TAG[@]}" "${WHEELS[@]:1}"
  touch "$stamp"
fi

# 4. cactus_router for aarch64: the package sources plus _cr_core cross-compiled (always rebuilt).
say "cross-compiling cactus_router._cr_core for aarch64"
python3 tests/integration/stage_aarch64.py "$STAGE" --cc aarch64-linux-gnu-gcc \
  --python-include "$SYSROOT/usr/include/python3.11" --python-include "$SYSROOT/usr/include" >/dev/null

# 5. The integration tests under qemu-aarch64. The library is found through the installed
#    cactus-compute package (its metadata gives the version), as on a user's machine.
say "running tests/integration under qemu-aarch64"
qpy -c 'import platform, sys; print("python", sys.version.split()[0], platform.machine())'
unset CACTUS_LIB_PATH
qpy -m pytest -p no:cacheprovider -v -ra tests/integration | tee "$CACHE/pytest.log"
# The generator's tests must be among those that passed (a rename or a lost fixture would
# otherwise leave only the embedder's).
grep -q "test_cactus_generate_qemu.py::.* PASSED" "$CACHE/pytest.log" || {
  echo "cactus-qemu.sh: the libcactus generator tests did not run" >&2; exit 1; }
say "done"
