"""``run_demo()``: the whole toolkit once, end to end, in a few minutes on a laptop CPU.

Steps, each a plain library call: synthesise the 8 seed words with espeak-ng (and Piper's joe
voice when ``kwslab[piper]`` is installed) unless a dataset is given -> train the default
recipe, shortened (a head on the pretrained ``speech_embedding`` front end; the from-scratch
``tcresnet`` preset where that front end is neither on disk nor downloadable) -> a short
hyperparameter search -> evaluate on the test split *and on the real recordings shipped with
kwslab* -> export to ONNX -> evaluate the export on a noisy stream (DET curve) -> write the
HTML report. Everything lands in one folder::

    runs/demo/
      data/          synthetic dataset (only without --data)
      model/         the trained run (+ eval_test.json, eval_real.json)
      search/        the search: best/, trials.csv, history.png, ...
      onnx/          model.onnx + config.json; stream/det.json + det.png
      demo.json      recipe, both accuracies, what each step did and how long it took
      report.html    the report

Synthetic test voices are the same synthesiser as the training voices, so their accuracy
flatters the model; the figure that matters is the one on real people, reported first.

The demo is resumable: a step whose outputs exist is skipped, so an interrupted demo picks up
where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kwslab import artifacts as A
from kwslab.config import DEFAULT, SEED, SEED_WORDS, TCRESNET, RunConfig, override
from kwslab.errors import DataError, KwslabError
from kwslab.utils.io import read_json, write_json

EVAL_REAL = "eval_real.json"  # a run's accuracy on the shipped real clips
DEMO_EPOCHS = {"default": 20, "tcresnet": 12}  # per recipe (the full ones train 60 and 100)
DEMO_RECIPES: dict[str, dict[str, Any]] = {
    # Two augmented copies instead of four: the front end runs once per copy, the bulk of the
    # training time; the head itself trains in seconds.
    "default": {"train": {"augment": {"copies": 2}}},
    # Small batches give the small CNN enough steps in 12 epochs; one torch thread leaves the
    # second core to the batch thread (features + augmentation), faster than two on 2 cores.
    "tcresnet": {"train": {"batch_size": 16, "threads": 1}},
}
MAX_PER_WORD = 200  # training clips per word (the seed's cap): bounds the time on big datasets
PIPER_VOICE = "piper:joe"  # added to espeak-ng's voices when kwslab[piper] is installed
STREAM_MAX_CLIPS = 160  # test clips placed in the stream (~13 min of audio)
SEARCH_METHOD = "random"
SEARCH_TRIALS = 6  # trials of the short search
SEARCH_EPOCHS = 8  # epochs per search trial
SEARCH_SPACE = """
# The demo's search: the seed's dense network on its cached 1024-value features, so a trial
# costs seconds; the knobs the seed project tuned first.
base = "seed"
[fixed]
"train.epochs" = {epochs}
"train.patience" = 0
[params]
"model.neurons" = {{ choices = [256, 512, 1024] }}
"model.activation" = {{ choices = ["relu", "elu", "tanh"] }}
"model.dropout" = {{ low = 0.0, high = 0.4, step = 0.1 }}
"train.optimizer" = {{ choices = ["adam", "adamax", "sgd"] }}
"train.lr" = {{ low = 3e-4, high = 3e-2, log = true }}
"""
STREAM_SNR_DB = 10.0
STREAM_FA_PER_HOUR = 1.0  # the stream step also names the DET's best hit rate at this rate
STEPS = ("data", "train", "search", "evaluate", "export", "stream", "report")


def run_demo(out: Path = Path("runs/demo"), data: Path | None = None, *, seed: int = 0,
             progress: bool = True, words: Sequence[str] = SEED_WORDS,
             epochs: int | None = None, search_trials: int = SEARCH_TRIALS,
             search_epochs: int = SEARCH_EPOCHS, synth_options: dict[str, Any] | None = None,
             log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every step of the demo into ``out`` and return a summary.

    Args:
        out: the demo folder (created; a finished step found there is skipped).
        data: a Speech Commands-style folder; None: synthesise ``words`` into ``out/data``.
        seed: seeds synthesis, training, the search and the test stream.
        progress: progress bars for each long step (on a terminal).
        words: the keywords; they must exist in ``data`` when it is given. Only words of the
            shipped real clips (:data:`kwslab.data.real_sample.WORDS`) can be scored on them.
        epochs: training epochs; None: the recipe's entry in :data:`DEMO_EPOCHS`.
        search_trials: trials of the short random search; 0 skips the search.
        search_epochs: epochs of each search trial.
        synth_options: extra keyword arguments for
            :func:`~kwslab.data.synth.synthesize_dataset` (e.g. fewer ``voices`` in tests).
        log: receives one line as each step starts and ends (default: rich on stderr).

    Returns:
        ``real`` (accuracy on the shipped real clips: ``accuracy``, ``ci95``, ``n``,
        ``unseen``; or ``skipped`` with the reason), ``test`` (the same on the test split of
        the data, with ``what`` naming it), ``accuracy`` (= ``test["accuracy"]``), ``recipe``
        (``name`` and ``reason``), ``voices`` (synthesised data only), ``report``, ``run``,
        ``export``, ``search``, ``data``, ``seconds`` and ``steps`` (per step: status,
        seconds, detail).
    """
    out = Path(out)
    state_path = out / A.DEMO_JSON
    if not state_path.is_file() and A.holds_results(out):
        raise DataError(f"--out {out} holds a search, a run or an export, not a demo; give "
                        "another --out")
    out.mkdir(parents=True, exist_ok=True)
    log = log or _console_log
    old = read_json(state_path) if state_path.is_file() else {}
    summary: dict[str, Any] = {"run": "model", "seed": seed, "steps": {}, "seconds": 0.0,
                               "previous_seconds": old.get("seconds")}
    start = time.perf_counter()
    run_dir, export_dir, search_dir = out / "model", out / "onnx", out / "search"
    stream_dir = export_dir / "stream"

    def step(name: str, done: bool, fn: Callable[[], str], spinner: bool = False) -> None:
        n = STEPS.index(name) + 1
        if done:
            summary["steps"][name] = {"status": "skipped", "seconds": 0.0,
                                      "detail": "outputs already there"}
            log(f"[{n}/{len(STEPS)}] {name}: already done, skipped")
            return
        log(f"[{n}/{len(STEPS)}] {name} ...")
        t = time.perf_counter()
        if spinner and progress:  # steps without bars of their own: a pulsing bar and a clock
            from kwslab.utils.progress import make_progress

            with make_progress(transient=True) as bar:
                bar.add_task(name, total=None)
                detail = fn()
        else:
            detail = fn()
        seconds = time.perf_counter() - t
        summary["steps"][name] = {"status": "done", "seconds": round(seconds, 1), "detail": detail}
        summary["seconds"] = round(time.perf_counter() - start, 1)
        write_json(state_path, summary)
        log(f"[{n}/{len(STEPS)}] {name}: {detail} ({seconds:.0f} s)")

    # 1. data
    synthetic = data is None
    if data is None:
        from kwslab.data.synth import MARKER, PARAMS_FILE, folder_name, synthesize_dataset

        data = folder = out / "data"

        def synth() -> str:
            options = dict(synth_options or {})
            options.setdefault("voices", demo_voices(log))
            synthesize_dataset(list(words), folder, seed=seed, progress=progress, **options)
            n = sum(len(list((folder / folder_name(w)).glob("*.wav"))) for w in words)
            return f"{n} clips of {len(words)} words synthesised in {folder}"

        step("data", (folder / MARKER).is_file(), synth)
        summary["voices"] = read_json(folder / PARAMS_FILE)["voices"]
        log(f"voices: {_describe_voices(summary['voices'])}")
    else:
        data = Path(data)
        if not data.exists():
            raise DataError(f"{data}: no such dataset folder or manifest")
        summary["steps"]["data"] = {"status": "given", "seconds": 0.0, "detail": str(data)}
        log(f"[1/{len(STEPS)}] data: {data}")
    built = run_dir.exists() or any(  # a demo that failed before training built nothing
        s.get("status") == "done" for n, s in old.get("steps", {}).items() if n != "data")
    if old.get("data") not in (None, str(data)) and built:
        raise DataError(f"{out} holds a demo made from {old['data']}, not {data}; give another "
                        "--out or delete the folder")
    summary["data"] = str(data)

    # 2. train the default recipe, shortened (tcresnet where its front end is unavailable)
    recipe = _trained_recipe(run_dir, old) or choose_recipe(progress=progress, log=log)
    summary["recipe"] = recipe
    write_json(state_path, summary)
    log(f"recipe: {recipe['name']} ({recipe['reason']})")
    cfg = demo_config(recipe["name"], words, epochs, seed)

    def train() -> str:
        from kwslab.training import train as train_model

        m = train_model(cfg, data, run_dir, progress=progress, log=log).metrics
        return (f"{recipe['name']} recipe ({cfg.model.name}), {m['epochs_run']} epochs, "
                f"validation accuracy {m['val_accuracy']:.3f}")

    step("train", A.is_run(run_dir), train)

    # 3. a short search over the seed's dense network
    def search() -> str:
        from kwslab.search import Budget, parse_space, run_search

        base = override(SEED, {"data": {"words": list(words)},
                               "train": {"seed": seed, "threads": 1}})
        space = parse_space(SEARCH_SPACE.format(epochs=search_epochs), "demo space", base=base)
        budget = Budget(trials=search_trials)
        res = run_search(data, search_dir, method=SEARCH_METHOD, space=space, budget=budget,
                         seed=seed, progress=progress, log=log)
        best = f"{res.best_value:.3f}" if res.best_value is not None else "-"
        return f"{SEARCH_METHOD}: {res.trials} trials, {res.epochs} epochs, best validation {best}"

    if search_trials > 0:
        step("search", A.is_run(search_dir / "best") and (search_dir / A.TRIALS_CSV).is_file(),
             search)
    else:
        summary["steps"]["search"] = {"status": "off", "seconds": 0.0, "detail": "0 trials"}

    # 4. every model on the test split and on the shipped real clips
    models = [d for d in (run_dir, search_dir / "best") if A.is_run(d)]
    no_real = _unscorable(words)

    def evaluate() -> str:
        from kwslab.data.real_sample import real_clips_dir
        from kwslab.evaluation import evaluate as score

        parts = []
        for d in models:
            if not (d / A.EVAL_TEST).is_file():
                write_json(d / A.EVAL_TEST, score(d, data, "test", progress=progress))
            if not no_real and not (d / EVAL_REAL).is_file():
                write_json(d / EVAL_REAL, score(d, real_clips_dir(), "test", progress=progress))
            real = "" if no_real else f"real {read_json(d / EVAL_REAL)['accuracy']:.3f}, "
            parts.append(f"{d.relative_to(out)}: {real}test "
                         f"{read_json(d / A.EVAL_TEST)['accuracy']:.3f}")
        return "accuracy " + "; ".join(parts)

    step("evaluate", all((d / A.EVAL_TEST).is_file() and (no_real or (d / EVAL_REAL).is_file())
                         for d in models), evaluate)
    test = read_json(run_dir / A.EVAL_TEST)
    what = "held-out synthetic voices" if synthetic else f"the test split of {data}"
    summary["test"] = {"what": what, **_figure(test)}
    summary["accuracy"] = test["accuracy"]
    if no_real:
        summary["real"] = {"skipped": no_real}
    else:
        real = read_json(run_dir / EVAL_REAL)
        heard = _heard_speakers(data, cfg)
        summary["real"] = {"data": real["data"], **_figure(real), "unseen": not heard,
                           "speakers_in_training": heard}
    write_json(state_path, summary)

    # 5. ONNX export of the trained model, scored against torch on the test split
    def export() -> str:
        from kwslab.export import export_onnx

        res = export_onnx(run_dir, export_dir, data=data)
        acc = res.get("metrics", {}).get("fp32", {}).get("accuracy")
        return f"{export_dir / A.FP32}" + (f", test accuracy {acc:.3f}" if acc else "")

    step("export", A.is_export(export_dir), export, spinner=True)

    # 6. the export on a long noisy stream: hit rate, false accepts per hour, DET curve
    def stream() -> str:
        from kwslab.evaluation.stream import best_at, eval_stream, render_det

        clips = _stream_clips(data, words, stream_dir / "clips", seed)
        res = eval_stream(export_dir, clips, snr_db=STREAM_SNR_DB, seed=seed)
        write_json(stream_dir / A.DET_JSON, res)
        render_det(res, stream_dir / A.DET_PNG)
        op = res["operating_point"]
        best = best_at(res["det"], STREAM_FA_PER_HOUR)
        best_text = "" if best is None else (
            f"; best on this stream at <= {STREAM_FA_PER_HOUR:g} FA/hour: hit rate "
            f"{best['hit_rate']:.3f} (threshold {best['threshold']:g})")
        return (f"hit rate {op['hit_rate']:.3f}, {op['fa_per_hour']:.1f} false accepts/hour at "
                f"threshold {op['threshold']:g} over {res['stream']['duration_s'] / 60:.0f} min"
                + best_text)

    step("stream", (stream_dir / A.DET_JSON).is_file(), stream, spinner=True)

    # 7. the report
    def report() -> str:
        from kwslab.report import build_report

        return str(build_report(out))

    step("report", False, report, spinner=True)
    write_json(state_path, summary)
    return {**summary, "out": str(out), "report": str(out / A.REPORT),
            "run": str(run_dir), "export": str(export_dir), "search": str(search_dir)}


def figure_lines(result: dict[str, Any]) -> list[str]:
    """The demo's headline, real voices first: what the CLI prints and the report shows."""
    real, test, recipe = result["real"], result["test"], result["recipe"]
    if "skipped" in real:
        first = f"real recordings: not scored ({real['skipped']})"
    else:
        who = ("unseen speakers" if real["unseen"] else
               f"{len(real['speakers_in_training'])} of their speakers also in training")
        first = (f"accuracy on {real['n']} real recordings ({who}): {_pct(real)}")
    return [first, f"on {test['what']}: {_pct(test)}",
            f"recipe: {recipe['name']} ({recipe['reason']})"]


def choose_recipe(*, progress: bool = False,
                  log: Callable[[str], None] = lambda m: None) -> dict[str, str]:
    """``{"name", "reason"}``: ``default`` when its ``speech_embedding`` front end is on disk
    or can be fetched now; else ``tcresnet`` (from scratch, nothing to download)."""
    from kwslab.features import embedding

    folder = embedding.default_dir()
    if embedding.is_ready(folder):
        return {"name": "default", "reason": f"pretrained speech_embedding front end in {folder}"}
    log(f"the default recipe's front end is not in {folder}; fetching it (16 MB)")
    try:
        embedding.fetch(folder, progress=progress)
    except KwslabError as e:
        return {"name": "tcresnet", "reason": (
            f"FALLBACK: the default recipe's speech_embedding front end is not in {folder} and "
            f"could not be fetched ({e}); trained the from-scratch tcresnet preset instead. "
            "Run `kwslab fetch-model` online, or copy the folder there, for the default recipe")}
    return {"name": "default", "reason": f"pretrained speech_embedding front end fetched "
                                         f"into {folder}"}


def demo_config(recipe: str, words: Sequence[str], epochs: int | None, seed: int) -> RunConfig:
    """The preset ``recipe`` (``default`` or ``tcresnet``) shortened for the demo."""
    base = {"default": DEFAULT, "tcresnet": TCRESNET}[recipe]
    cfg = override(base, DEMO_RECIPES[recipe])
    return override(cfg, {"data": {"words": list(words), "max_per_word": MAX_PER_WORD},
                          "train": {"epochs": epochs or DEMO_EPOCHS[recipe], "seed": seed}})


def demo_voices(log: Callable[[str], None] = lambda m: None) -> tuple[str, ...]:
    """espeak-ng's default voices, plus :data:`PIPER_VOICE` when ``kwslab[piper]`` is there."""
    from kwslab.data import piper
    from kwslab.data.synth import DEFAULT_VOICES

    try:
        piper.check_voice(PIPER_VOICE)
    except KwslabError as e:
        log(f"espeak-ng voices only: {e}")
        return DEFAULT_VOICES
    return (*DEFAULT_VOICES, PIPER_VOICE)


def _trained_recipe(run_dir: Path, old: dict[str, Any]) -> dict[str, str] | None:
    """The recipe of a model already trained in ``run_dir`` (resuming), else None."""
    if not A.is_run(run_dir):
        return None
    if old.get("recipe"):
        return old["recipe"]
    kind = read_json(run_dir / A.CONFIG)["config"]["features"]["kind"]
    name = "default" if kind == "speech_embedding" else "tcresnet"
    return {"name": name, "reason": f"trained earlier into {run_dir}"}


def _describe_voices(voices: Sequence[str]) -> str:
    from kwslab.data.piper import is_piper

    neural = [v for v in voices if is_piper(v)]
    text = f"{len(voices) - len(neural)} espeak-ng voices"
    return text + (f" + Piper {', '.join(neural)}" if neural else " (no Piper voice)")


def _unscorable(words: Sequence[str]) -> str:
    """Why the shipped real clips cannot score a model of ``words`` ('' when they can)."""
    from kwslab.data.real_sample import WORDS

    missing = [w for w in words if w not in WORDS]
    if not missing:
        return ""
    return (f"the shipped real clips hold {', '.join(WORDS)}, not {', '.join(missing)}")


def _heard_speakers(data: Path, cfg: RunConfig) -> list[str]:
    """Speakers of the real clips that ``data``'s training split also holds (given data
    may include them; synthetic voices never do)."""
    from kwslab.data import load_clips
    from kwslab.data.real_sample import real_clips_dir

    mine = {c.speaker for c in load_clips(real_clips_dir(), cfg.data)}
    train = {c.speaker for c in load_clips(data, cfg.data, seed=cfg.train.seed)
             if c.split == "train"}
    return sorted(mine & train)


def _figure(ev: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": ev["accuracy"], "ci95": list(ev["accuracy_ci95"]), "n": ev["n"]}


def _pct(fig: dict[str, Any]) -> str:
    lo, hi = fig["ci95"]
    return (f"{100 * fig['accuracy']:.1f} % [95 % CI {100 * lo:.1f}-{100 * hi:.1f} %] "
            f"(n={fig['n']})")


def _stream_clips(data: Path, words: Sequence[str], dest: Path, seed: int) -> Path:
    """``data``, or when its test split is big, a folder of links to an even share of it.

    The folder has the Speech Commands layout (word folders, ``testing_list.txt`` and the
    dataset's ``_background_noise_``), so the stream is built exactly as from ``data``.
    """
    import random

    from kwslab.config import DataConfig
    from kwslab.data import load_clips
    from kwslab.data.speechcommands import NOISE_DIR, select_split

    if not data.is_dir():
        return data
    clips = select_split(load_clips(data, DataConfig(words=tuple(words)), seed=seed), "test")
    if len(clips) <= STREAM_MAX_CLIPS:
        return data
    rng = random.Random(seed)
    per_word = max(1, STREAM_MAX_CLIPS // len(words))
    names = []
    for word in words:
        mine = sorted(c.path for c in clips if c.label == word)
        for path in rng.sample(mine, min(per_word, len(mine))):
            link = dest / word / Path(path).name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(Path(path).resolve())
            names.append(f"{word}/{link.name}")
    (dest / "testing_list.txt").write_text("".join(f"{n}\n" for n in names))
    noise = data / NOISE_DIR
    if noise.is_dir() and not (dest / NOISE_DIR).exists():
        (dest / NOISE_DIR).symlink_to(noise.resolve(), target_is_directory=True)
    return dest


def _console_log(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(message, markup=False)
