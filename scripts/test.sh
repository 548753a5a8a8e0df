#!/usr/bin/env bash
# The whole test suite: set up .venv with the dev extras, lint, type-check, then pytest.
# PostgreSQL and Chromium (Debian packages) must be installed; .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy src/kwslab
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
