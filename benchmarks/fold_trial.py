"""Speaker folds of one search trial's configuration (is a Pareto point as good as it looks on
validation?). Not a test::

    .venv/bin/python benchmarks/fold_trial.py runs/pareto-cnn:2 runs/folds-pareto2 \\
        [--data ../shared/data/speech_commands_mini] [--folds 5] [--seeds 0]

Resumable like ``benchmarks/accuracy.py --folds`` (finished folds are not trained again);
prints the summary as JSON.
"""

from __future__ import annotations

import argparse
import json

from kwslab.crossval import cross_validate
from kwslab.search.storage import config_from_trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trial", help="DIR:N of a `kwslab tune --out DIR` study")
    ap.add_argument("out", help="folder for the folds' runs and results")
    ap.add_argument("--data", default="../shared/data/speech_commands_mini")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    res = cross_validate(config_from_trial(args.trial), args.data, args.folds, args.out,
                         seeds=args.seeds)
    for key in ("errors", "speakers"):
        res.pop(key, None)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
