#!/usr/bin/env bash
# Trunk post-build hook: link the default model into the staged dist/ (models/), if present.
set -euo pipefail
src="${KILN_MODEL_DIR:-$HOME/.cache/kiln/models}/SmolLM2-135M-Instruct-Q4_1.gguf"
dest="${TRUNK_STAGING_DIR:?run by trunk}/models"
mkdir -p "$dest"
if [ -f "$src" ]; then
  ln -f "$src" "$dest/" 2>/dev/null || cp "$src" "$dest/"
else
  echo "web_assets: $src not found (scripts/fetch_model.sh); the page will offer file and URL loading only" >&2
fi
