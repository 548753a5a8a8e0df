"""One ensemble of trained runs, scored on fixed splits of a dataset under each rule that
combines its members (``kwslab export --combine``). Not a test. For models whose training
held none of the dataset's speakers (e.g. trained on synthetic speech only,
``benchmarks/synthetic.py``), every split is unseen speech: choose the rule on
``validation``, report the others::

    .venv/bin/python benchmarks/ensemble_splits.py runs/synth/mix0 runs/synth/mix0-seed1 \\
        runs/synth/mix0-seed2 runs/synth-tc/mix0 --data ../shared/data/speech_commands_mini \\
        --splits validation,test,train --out runs/synth-ensemble.json

Prints one line per rule and split (accuracy with its 95 % interval, n), and writes them to
``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kwslab.evaluation import evaluate
from kwslab.export import export_ensemble
from kwslab.runtime.ensemble import COMBINE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders of `kwslab train`")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--splits", default="validation,test")
    ap.add_argument("--combine", default=",".join(COMBINE))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rule in args.combine.split(","):
            export = Path(tmp) / rule
            export_ensemble(args.runs, export, combine=rule)
            for split in args.splits.split(","):
                r = evaluate(export, args.data, split)
                lo, hi = r["accuracy_ci95"]
                rows.append({"combine": rule, "split": split, "accuracy": r["accuracy"],
                             "ci95": [lo, hi], "n": r["n"]})
                print(f"{rule:9s} {split:10s} {100 * r['accuracy']:.2f} % "
                      f"[{100 * lo:.1f}, {100 * hi:.1f}] (n = {r['n']})", flush=True)
    args.out.write_text(json.dumps({"runs": [str(r) for r in args.runs], "rows": rows},
                                   indent=1))


if __name__ == "__main__":
    main()
