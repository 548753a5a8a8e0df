#!/usr/bin/env bash
# The main job: set up .venv if needed (and fetch the default recipe's front end once), then
# `kwslab demo`: synthesises the 8 seed words (espeak-ng, Piper if installed), trains the
# default recipe (tcresnet, announced, where the front end cannot be had), searches, scores on
# 64 shipped real recordings and on held-out synthetic voices (printed in that order), exports
# ONNX and writes runs/demo/report.html.
# Extra arguments go to `kwslab demo`, e.g. --data ../shared/data/speech_commands_mini
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kwslab demo "$@"
