"""Keras Tuner against kwslab's search: same features, space, data and wall-time budget.

Not a test: the figures depend on the machine and on what else runs on it. Keras 3 and
keras-tuner live in their own virtual environment (never in kwslab's); this file runs there
too, as a subprocess, so it imports only the standard library at the top::

    python3 -m venv /work/kt-venv
    /work/kt-venv/bin/pip install torch==2.13.0 keras "keras-tuner[bayesian]" six
    nice -n 10 .venv/bin/python benchmarks/search_vs_keras_tuner.py \\
        --data ../shared/data/speech_commands_mini --keras-python /work/kt-venv/bin/python \\
        --budget 120 --out runs/search-vs-keras-tuner

What is shared:

- Features: the ``seed`` recipe's 1024-value log-Mel vectors, read once through kwslab's
  feature cache and saved to ``OUT/features.npz`` (train, validation, test = held-out speakers).
  Keras Tuner trains on that file. kwslab's ``train()`` takes a dataset, not arrays, so it
  trains on ``OUT/clips.jsonl``, exactly the clips of the file, whose features come from the
  same cache (checked: they equal the file's arrays). Both scale inputs by the training
  set's mean and standard deviation, and both score their best model on the file's test set.
- Space: the knobs of ``src/kwslab/search/spaces/seed.toml`` (layers, neurons, activation,
  initialiser, dropout, optimizer, learning rate, schedule, decay, batch size), read by
  kwslab and handed to the Keras side as JSON; training as the ``seed`` recipe (50 epochs,
  early stopping after 10 without gain, best epoch kept).
- Budget: wall time per method. Keras Tuner has no time limit, so a callback ends the trial
  that is running when the time is up and no new trial starts; kwslab's ``--timeout`` does
  the same. Seconds are the wall time of the whole search call (set-up and finish included).
- Hyperband: both at 50 epochs at most and reduction factor 3 (first rung 2 epochs), one
  execution per trial. A Keras Tuner trial trains one rung (a promoted one resumes from its
  checkpoint, as a new trial); a kwslab trial trains until it is pruned at a rung or finishes.
  So both tools' ``trials`` are counted as Keras Tuner counts them: a kwslab configuration
  that goes on past a rung counts one trial more per rung passed; the ``configs`` column
  counts hyperparameter sets tried.
- Machine: each row records the 1-minute load average just before it ran and the torch
  threads each tool trained with, times kwslab's worker processes (its default for the space:
  the ``seed`` space computes features once, so one single-threaded worker per core; Keras'
  torch back end keeps torch's default threads in one process).

Writes ``OUT/table.md`` and ``OUT/table.json``: method, tool, trials, epochs, seconds, best
validation accuracy, test accuracy of the best model, trials per minute, load average before
the run, torch threads. Running the command again with the same budget and seed keeps the rows
already measured (a failed run resumes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("random", "hyperband", "bayesian")
KT_CLASS = {"random": "RandomSearch", "hyperband": "Hyperband",
            "bayesian": "BayesianOptimization"}
DEFAULT_DECAY = {"time": 0.1, "exponential": 0.95}  # as kwslab.training.optim
TRIALS_CAP = 100_000  # "no trial limit" for Keras Tuner's random and Bayesian oracles


# ---- kwslab side (kwslab's venv) -------------------------------------------------------------

def prepare(data: str, out: Path) -> dict:
    """Write OUT/features.npz and OUT/clips.jsonl once; return the space and training as JSON."""
    import numpy as np

    from kwslab.config import to_dict
    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.manifest import write_manifest
    from kwslab.data.speechcommands import select_split
    from kwslab.search.space import load_space

    space = load_space("seed")
    cfg = space.base
    npz, manifest = out / "features.npz", out / "clips.jsonl"
    if not npz.is_file():
        clips = load_clips(data, cfg.data, seed=cfg.train.seed)
        index = {label: i for i, label in enumerate(cfg.data.labels)}
        arrays, kept = {}, []
        for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
            x, ok, bad = cached_features(select_split(clips, split), cfg.features,
                                         progress=False)
            if bad:
                print(f"{len(bad)} unreadable {split} clips left out", file=sys.stderr)
            arrays[f"x_{key}"] = x.reshape(len(x), -1).astype(np.float32)
            arrays[f"y_{key}"] = np.array([index[c.label] for c in ok], np.int64)
            kept += ok
        np.savez(npz, labels=np.array(cfg.data.labels), **arrays)
        write_manifest(kept, manifest)
    params = []
    for p in space.params:
        params.append({"name": p.name, "kind": p.kind, "low": p.low, "high": p.high,
                       "log": p.log, "step": p.step, "choices": list(p.choices)})
    base = to_dict(cfg)
    return {"params": params, "epochs": cfg.train.epochs, "patience": cfg.train.patience,
            "momentum": cfg.train.momentum,
            "base": {"model": base["model"], "train": base["train"]}}


def check_same_features(out: Path) -> None:
    """kwslab reads the manifest's clips through its cache: they must equal the file's."""
    import numpy as np

    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.speechcommands import select_split
    from kwslab.search.space import load_space

    cfg = load_space("seed").base
    arrays = np.load(out / "features.npz")
    clips = load_clips(out / "clips.jsonl", cfg.data)
    for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
        x = cached_features(select_split(clips, split), cfg.features, progress=False)[0]
        if not np.array_equal(x.reshape(len(x), -1), arrays[f"x_{key}"]):
            raise SystemExit(f"{split}: kwslab's cached features differ from features.npz")


def run_kwslab(method: str, out: Path, budget: float, seed: int) -> dict:
    """One kwslab search on OUT/clips.jsonl; its best model scored on the file's test set."""
    import numpy as np
    import torch

    from kwslab.models.io import load_model
    from kwslab.search import Budget, load_space, run_search
    from kwslab.search.study import default_workers, trial_threads

    space = load_space("seed")
    workers = default_workers(method, space)
    threads = f"{space.base.train.threads or trial_threads(workers)} x {workers}"
    start = time.perf_counter()
    res = run_search(out / "clips.jsonl", out / f"kwslab-{method}", method=method,
                     space=space, budget=Budget(timeout=budget), seed=seed,
                     progress=False, log=lambda m: print(f"  {m}", file=sys.stderr))
    seconds = time.perf_counter() - start
    test = None
    if res.best_dir is not None:
        arrays = np.load(out / "features.npz")
        model, cfg, _ = load_model(res.best_dir)
        x = torch.from_numpy(arrays["x_test"].reshape(-1, *cfg.features.shape))
        with torch.no_grad():
            pred = model.eval()(x).argmax(1).numpy()
        test = float((pred == arrays["y_test"]).mean())
    return {"method": method, "tool": "kwslab",
            "trials": _segments(out / f"kwslab-{method}", space) if method == "hyperband"
            else res.trials, "configs": res.trials,
            "epochs": res.epochs,
            "seconds": round(seconds, 1), "val_accuracy": res.best_value,
            "test_accuracy": test, "threads": threads}


def _segments(folder: Path, space) -> int:
    """Trials counted as Keras Tuner counts them: a configuration that trains on past a
    Hyperband rung starts a new trial there (Keras Tuner resumes it from a checkpoint)."""
    from kwslab.search.pruning import Brackets, first_rung, max_epochs

    top = max_epochs(space)
    brackets = Brackets(first=min(first_rung(top), top), top=top)
    count = 0
    for t in json.loads((folder / "trials.json").read_text()):
        if t["state"] not in ("COMPLETE", "PRUNED") and not t.get("error"):
            continue  # closed over budget, or still running: not a trial run
        ran = t["epochs_run"] or 0
        count += 1 + sum(r < ran for r in brackets.rungs(brackets.bracket(t["number"])))
    return count


def run_keras(python: str, method: str, out: Path, budget: float, seed: int,
              space: dict) -> dict:
    """The same search with Keras Tuner, in its own interpreter (Keras 3, torch backend)."""
    folder = out / f"keras-{method}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.json").write_text(json.dumps(space))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    cmd = [python, __file__, "keras-side", "--npz", str(out / "features.npz"), "--method",
           method, "--budget", str(budget), "--seed", str(seed), "--out", str(folder)]
    done = subprocess.run(cmd, env=env, text=True, capture_output=True)
    (folder / "log.txt").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"Keras Tuner ({method}) failed with status {done.returncode}; see "
                         f"{folder / 'log.txt'}:\n{done.stderr[-2000:]}")
    return json.loads((folder / "result.json").read_text())


def table(rows: list[dict], budget: float) -> str:
    lines = [f"Wall-time budget per method: {budget:g} s", "",
             "| method | tool | trials | configs | epochs | seconds | best val accuracy | "
             "test accuracy (best model) | trials/min | load before | threads |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        val = "-" if r["val_accuracy"] is None else f"{r['val_accuracy']:.3f}"
        test = "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}"
        lines.append(f"| {r['method']} | {r['tool']} | {r['trials']} | "
                     f"{r.get('configs', '-')} | {r['epochs']} | "
                     f"{r['seconds']:.0f} | {val} | {test} | {r['trials_per_min']:.1f} | "
                     f"{r.get('load', '-')} | {r.get('threads', '-')} |")
    return "\n".join(lines) + "\n"


def _done(path: Path, budget: float, seed: int) -> list[dict]:
    """Rows an earlier, interrupted run with the same budget and seed already measured."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    return old["rows"] if (old["budget_s"], old["seed"]) == (budget, seed) else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="Speech Commands-style folder")
    p.add_argument("--keras-python", required=True,
                   help="python of the venv with keras and keras-tuner")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per method")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    space = prepare(args.data, out)
    check_same_features(out)
    rows = _done(out / "table.json", args.budget, args.seed)
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for tool in ("keras-tuner", "kwslab"):
            if any(r["method"] == method and r["tool"] == tool for r in rows):
                continue  # measured by an earlier run of this command (same budget and seed)
            load = round(os.getloadavg()[0], 2)
            print(f"== {tool} {method} ({args.budget:g} s, load {load})", file=sys.stderr)
            if tool == "kwslab":
                row = run_kwslab(method, out, args.budget, args.seed)
            else:
                row = run_keras(args.keras_python, method, out, args.budget, args.seed, space)
            row["trials_per_min"] = 60.0 * row["trials"] / row["seconds"]
            row["load"] = load
            rows.append(row)
            print(f"   {row}", file=sys.stderr)
            (out / "table.json").write_text(json.dumps(
                {"budget_s": args.budget, "seed": args.seed, "data": args.data, "rows": rows},
                indent=2) + "\n")
    (out / "table.md").write_text(table(rows, args.budget))
    print(table(rows, args.budget))


# ---- Keras side (the keras-tuner venv) ------------------------------------------------------

def keras_side(argv: list[str]) -> None:
    """Run one Keras Tuner search on the .npz and write OUT/result.json."""
    p = argparse.ArgumentParser()
    p.add_argument("--npz", required=True)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--budget", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import keras_tuner as kt
    import numpy as np
    import torch

    out = Path(args.out)
    spec = json.loads((out / "space.json").read_text())
    arrays = np.load(args.npz)
    mean, std = float(arrays["x_train"].mean()), float(arrays["x_train"].std() + 1e-5)
    x = {k: (arrays[f"x_{k}"] - mean) / std for k in ("train", "val", "test")}
    y = {k: arrays[f"y_{k}"] for k in ("train", "val", "test")}
    n_classes = len(arrays["labels"])
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    deadline = time.time() + args.budget
    epochs_run = [0]

    def value(hp, name: str):
        """The hyperparameter ``name`` (dotted, as in seed.toml) of this trial, or the base's."""
        for q in spec["params"]:
            if q["name"] != name:
                continue
            key = name.replace(".", "_")
            if q["kind"] == "categorical":
                return hp.Choice(key, q["choices"])
            if q["kind"] == "int":
                return hp.Int(key, int(q["low"]), int(q["high"]), step=int(q["step"] or 1),
                              sampling="log" if q["log"] else "linear")
            return hp.Float(key, q["low"], q["high"], step=q["step"],
                            sampling="log" if q["log"] else "linear")
        section, field = name.split(".")
        return spec["base"][section][field]

    class SeedModel(kt.HyperModel):
        """The seed's dense network; batch size and schedule are searched in ``fit``."""

        def build(self, hp):
            act, init = value(hp, "model.activation"), value(hp, "model.init")
            neurons, dropout = value(hp, "model.neurons"), value(hp, "model.dropout")
            layers = [keras.Input((x["train"].shape[1],))]
            for _ in range(value(hp, "model.hidden_layers")):
                layers.append(keras.layers.Dense(neurons, activation=act,
                                                 kernel_initializer=init))
                if dropout:
                    layers.append(keras.layers.Dropout(dropout))
            layers.append(keras.layers.Dense(n_classes, activation="softmax",
                                             kernel_initializer=init))
            model = keras.Sequential(layers)
            name, lr = value(hp, "train.optimizer"), value(hp, "train.lr")
            momentum = {"momentum": spec["momentum"]} if name in ("sgd", "rmsprop") else {}
            opt = {"adam": keras.optimizers.Adam, "adamax": keras.optimizers.Adamax,
                   "nadam": keras.optimizers.Nadam, "sgd": keras.optimizers.SGD,
                   "rmsprop": keras.optimizers.RMSprop}[name](learning_rate=lr, **momentum)
            model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            return model

        def fit(self, hp, model, *fit_args, callbacks=None, **kwargs):
            schedule, lr = value(hp, "train.schedule"), value(hp, "train.lr")
            k = value(hp, "train.decay") or DEFAULT_DECAY.get(schedule, 0.0)

            def lr_at(epoch: int, _current: float) -> float:
                if schedule == "time":
                    return lr / (1.0 + k * epoch)
                if schedule == "exponential":
                    return lr * k**epoch
                return lr

            extra = [keras.callbacks.LearningRateScheduler(lr_at), Clock(),
                     keras.callbacks.EarlyStopping("val_accuracy", patience=spec["patience"])]
            return model.fit(*fit_args, batch_size=value(hp, "train.batch_size"),
                             callbacks=[*(callbacks or []), *extra], verbose=0, **kwargs)

    class Clock(keras.callbacks.Callback):
        """Counts epochs; ends the running trial when the time is up."""

        def on_epoch_end(self, epoch, logs=None):
            epochs_run[0] += 1
            if time.time() >= deadline:
                self.model.stop_training = True

    class TimeUp(Exception):
        pass

    base = getattr(kt, KT_CLASS[args.method])

    class Timed(base):
        """No new trial once the time budget is spent."""

        def pre_create_trial(self):
            if time.time() >= deadline:
                raise TimeUp
            return super().pre_create_trial()

    common = dict(objective="val_accuracy", seed=args.seed, directory=str(out),
                  project_name="tuner", overwrite=True, executions_per_trial=1)
    if args.method == "hyperband":
        tuner = Timed(SeedModel(), max_epochs=spec["epochs"], factor=3, **common)
    else:
        tuner = Timed(SeedModel(), max_trials=TRIALS_CAP, **common)
    fit = dict(validation_data=(x["val"], y["val"]))
    if args.method != "hyperband":  # Hyperband sets the epochs of each trial itself
        fit["epochs"] = spec["epochs"]
    with contextlib.suppress(TimeUp):  # the time budget is spent
        tuner.search(x["train"], y["train"], **fit)
    seconds = time.perf_counter() - start
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    best = tuner.oracle.get_best_trials(1)
    test = None
    if best:
        model = tuner.get_best_models(1)[0]
        test = float(model.evaluate(x["test"], y["test"], verbose=0)[1])
    (out / "result.json").write_text(json.dumps({
        "method": args.method, "tool": "keras-tuner", "trials": len(trials),
        "configs": sum("tuner/trial_id" not in t.hyperparameters.values for t in trials),
        "epochs": epochs_run[0], "seconds": round(seconds, 1),
        "val_accuracy": float(best[0].score) if best else None, "test_accuracy": test,
        "threads": torch.get_num_threads(),
        "versions": {"keras": keras.__version__, "keras_tuner": kt.__version__,
                     "backend": keras.backend.backend()}}, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["keras-side"]:
        keras_side(sys.argv[2:])
    else:
        main()
