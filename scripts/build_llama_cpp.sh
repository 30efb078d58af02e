#!/usr/bin/env bash
# Build an independent llama.cpp reference (CPU-only, Release) from the llama.cpp
# sources vendored inside the llama-cpp-python sdist on PyPI, plus the small
# scripts/llama_greedy.cpp driver linked against the resulting libllama.
#
# Idempotent: the sdist, the unpacked tree, the build tools and the build tree
# are reused when already present (sha256-checked for the sdist).
#
# Layout (ROOT = ${KILN_CACHE:-$HOME/.cache/kiln}/llama.cpp):
#   ROOT/dl/llama_cpp_python-<ver>.tar.gz   pinned sdist
#   ROOT/src/llama_cpp_python-<ver>/         unpacked sdist (vendor/llama.cpp inside)
#   ROOT/tools/                              venv holding cmake + ninja (only if not on PATH)
#   ROOT/build/bin/                          llama-tokenize, llama-bench, llama-batched-bench,
#                                            llama-greedy, shared libs
#
# Env: KILN_CACHE, KILN_BUILD_JOBS (default 2), KILN_BUILD_NICE (default 10),
#      KILN_LLAMA_CLI=1 to also build llama-cli (expensive: pulls in the server code),
#      KILN_LLAMA_NATIVE=on|off to force the instruction-set choice below.
#
# Instruction sets: GGML_NATIVE=ON (-march=native) where that runs. On a CPU that advertises
# AMX (amx_tile in /proc/cpuinfo) the native build's libggml-cpu died with a general-protection
# fault in llama-bench on one of the project's machines (AMX advertised, not usable), so there
# the build is GGML_NATIVE=OFF with the AVX2 / AVX-512 flags the CPU has, named explicitly.
# Last stdout line: the bin directory.
set -euo pipefail

LCP_VERSION="0.3.36"
LCP_SDIST="llama_cpp_python-${LCP_VERSION}.tar.gz"
LCP_SDIST_SHA256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# llama.cpp commit vendored by this llama-cpp-python release (from its CHANGELOG).
LLAMA_CPP_COMMIT="0c1e57098"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${KILN_CACHE:-$HOME/.cache/kiln}/llama.cpp"
JOBS="${KILN_BUILD_JOBS:-2}"
NICE="${KILN_BUILD_NICE:-10}"
DL="$ROOT/dl"
SRC="$ROOT/src/llama_cpp_python-${LCP_VERSION}"
LLAMA_SRC="$SRC/vendor/llama.cpp"
BUILD="$ROOT/build"
BIN="$BUILD/bin"

log() { echo "[build_llama_cpp] $*" >&2; }
die() { echo "[build_llama_cpp] error: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for pip)"
python3 -m pip --version >/dev/null 2>&1 || die "pip not available for python3 (try: apt-get install python3-pip)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die "no C++ compiler (try: apt-get install build-essential)"
CXX="${CXX:-$(command -v c++ || command -v g++)}"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
T_START="$(date +%s)"

# 1. sdist ---------------------------------------------------------------------
mkdir -p "$DL"
if [[ -f "$DL/$LCP_SDIST" && "$(sha_of "$DL/$LCP_SDIST")" == "$LCP_SDIST_SHA256" ]]; then
    log "sdist present: $DL/$LCP_SDIST"
else
    rm -f "$DL/$LCP_SDIST"
    log "downloading llama-cpp-python==$LCP_VERSION sdist (pip)"
    # --no-binary only for this package: ':all:' would also force pip to build
    # the sdist's build backend dependencies (cmake, ...) from source.
    python3 -m pip download --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==$LCP_VERSION" -d "$DL" >&2
    [[ -f "$DL/$LCP_SDIST" ]] || die "pip did not produce $DL/$LCP_SDIST"
    got="$(sha_of "$DL/$LCP_SDIST")"
    [[ "$got" == "$LCP_SDIST_SHA256" ]] || die "sha256 mismatch for $LCP_SDIST: got $got, want $LCP_SDIST_SHA256"
fi

# 2. unpack --------------------------------------------------------------------
if [[ ! -f "$LLAMA_SRC/CMakeLists.txt" || ! -f "$SRC/.kiln-unpacked" ]]; then
    log "unpacking $LCP_SDIST"
    rm -rf "$SRC"
    mkdir -p "$ROOT/src"
    tar -xzf "$DL/$LCP_SDIST" -C "$ROOT/src"
    [[ -f "$LLAMA_SRC/CMakeLists.txt" ]] || die "vendor/llama.cpp not found in sdist"
    touch "$SRC/.kiln-unpacked"
fi

# 3. cmake + ninja -------------------------------------------------------------
if command -v cmake >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then
    CMAKE="$(command -v cmake)"; NINJA="$(command -v ninja)"
else
    if [[ ! -x "$ROOT/tools/bin/cmake" || ! -x "$ROOT/tools/bin/ninja" ]]; then
        log "installing cmake + ninja into $ROOT/tools (pip)"
        python3 -m venv "$ROOT/tools" >&2 || die "python3 -m venv failed (try: apt-get install python3-venv)"
        "$ROOT/tools/bin/python" -m pip install --quiet cmake ninja >&2
    fi
    CMAKE="$ROOT/tools/bin/cmake"; NINJA="$ROOT/tools/bin/ninja"
fi
log "cmake: $CMAKE ($("$CMAKE" --version | head -1))"

# 4. configure + build llama.cpp -----------------------------------------------
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { [[ "$FLAGS" == *" $1 "* ]]; }
NATIVE="${KILN_LLAMA_NATIVE:-}"
if [[ -z "$NATIVE" ]]; then
    if has amx_tile; then NATIVE=off; else NATIVE=on; fi
fi
ISA_ARGS=(-DGGML_NATIVE=ON)
if [[ "$NATIVE" == off ]]; then
    ISA_ARGS=(-DGGML_NATIVE=OFF)
    has avx && ISA_ARGS+=(-DGGML_AVX=ON)
    has avx2 && ISA_ARGS+=(-DGGML_AVX2=ON)
    has fma && ISA_ARGS+=(-DGGML_FMA=ON)
    has f16c && ISA_ARGS+=(-DGGML_F16C=ON)
    has avx512f && ISA_ARGS+=(-DGGML_AVX512=ON)
    has avx512vbmi && ISA_ARGS+=(-DGGML_AVX512_VBMI=ON)
    has avx512_vnni && ISA_ARGS+=(-DGGML_AVX512_VNNI=ON)
    has avx512_bf16 && ISA_ARGS+=(-DGGML_AVX512_BF16=ON)
fi
log "instruction sets: ${ISA_ARGS[*]} (CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs))"
TARGETS=(llama llama-tokenize llama-bench llama-batched-bench)
CMAKE_ARGS=(
    -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA"
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=ON
    "${ISA_ARGS[@]}"
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF
    -DLLAMA_OPENSSL=OFF
    -DLLAMA_BUILD_NUMBER=0 -DLLAMA_BUILD_COMMIT="$LLAMA_CPP_COMMIT"
)
# KILN_LLAMA_CLI=1 adds llama-cli; KILN_LLAMA_SERVER=1 adds llama-server (the peer of
# `kiln serve` in docs/PERFORMANCE.md). Either turns the server option on in an existing build
# directory by configuring it again in place: what is built stays built.
SERVER_MARK="$BUILD/.kiln-server-on"
if [[ "${KILN_LLAMA_CLI:-0}" == "1" || "${KILN_LLAMA_SERVER:-0}" == "1" ]]; then
    CMAKE_ARGS+=(-DLLAMA_BUILD_SERVER=ON)
    [[ "${KILN_LLAMA_CLI:-0}" == "1" ]] && TARGETS+=(llama-cli)
    [[ "${KILN_LLAMA_SERVER:-0}" == "1" ]] && TARGETS+=(llama-server)
else
    CMAKE_ARGS+=(-DLLAMA_BUILD_SERVER=OFF)
fi

fresh=0
MARK="$BUILD/.kiln-configured-$LCP_VERSION-native-$NATIVE"
if [[ ! -f "$BUILD/build.ninja" || ! -f "$MARK" ]]; then
    fresh=1
    log "configuring llama.cpp ($LLAMA_CPP_COMMIT) in $BUILD"
    rm -rf "$BUILD"
    "$CMAKE" -S "$LLAMA_SRC" -B "$BUILD" "${CMAKE_ARGS[@]}" >&2
    touch "$MARK"
    rm -f "$SERVER_MARK"
fi
if [[ " ${CMAKE_ARGS[*]} " == *" -DLLAMA_BUILD_SERVER=ON "* && ! -f "$SERVER_MARK" ]]; then
    log "turning on llama.cpp's server targets in $BUILD"
    "$CMAKE" -S "$LLAMA_SRC" -B "$BUILD" "${CMAKE_ARGS[@]}" >&2
    touch "$SERVER_MARK"
fi
t0=$(date +%s)
log "building ${TARGETS[*]} (nice -n $NICE, -j $JOBS)"
nice -n "$NICE" "$CMAKE" --build "$BUILD" --config Release -j "$JOBS" --target "${TARGETS[@]}" >&2
log "llama.cpp build step took $(( $(date +%s) - t0 ))s"
if [[ $fresh == 1 ]]; then
    # wall time from script start (download/unpack/tools included) to built targets
    echo "$(( $(date +%s) - T_START )) s (fresh: configure + build of ${TARGETS[*]}, $(nproc) cores, -j $JOBS, nice $NICE)" \
        > "$BUILD/.kiln-fresh-build-time"
fi

# 5. llama_greedy driver -------------------------------------------------------
GREEDY_SRC="$SCRIPT_DIR/llama_greedy.cpp"
GREEDY_BIN="$BIN/llama-greedy"
if [[ ! -x "$GREEDY_BIN" || "$GREEDY_SRC" -nt "$GREEDY_BIN" || "$BIN/libllama.so" -nt "$GREEDY_BIN" ]]; then
    log "compiling $GREEDY_SRC"
    nice -n "$NICE" "$CXX" -std=c++17 -O2 -Wall \
        -I "$LLAMA_SRC/include" -I "$LLAMA_SRC/ggml/include" \
        "$GREEDY_SRC" -o "$GREEDY_BIN" \
        -L "$BIN" -lllama -lggml -lggml-base -Wl,-rpath,"$BIN" -lpthread
fi

for t in llama-tokenize llama-bench llama-batched-bench llama-greedy; do
    [[ -x "$BIN/$t" ]] || die "missing $BIN/$t after build"
done
log "done: $BIN"
echo "$BIN"
