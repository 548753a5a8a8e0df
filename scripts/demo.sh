#!/usr/bin/env bash
# The main job: set up .venv if needed, then `kwslab demo` (offline: synthesises the 8 seed
# words, trains, searches, evaluates, exports ONNX and writes runs/demo/report.html).
# Extra arguments go to `kwslab demo`, e.g. --data ../shared/data/speech_commands_mini
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kwslab demo "$@"
