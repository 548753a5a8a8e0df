"""The learning-rate range test (Smith 2017): grow the rate exponentially, watch the loss.

Starting from ``lr_min``, every mini-batch multiplies the learning rate by a constant so that
``lr_max`` is reached after ``steps`` batches (one pass over the training clips, at least
``min_steps`` batches, cycling if the set is small). The loss is smoothed with a bias-corrected
exponential moving average; the test stops when the smoothed loss exceeds ``explode`` times its
minimum. The suggested rate is a tenth of the rate at the minimum smoothed loss.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kwslab.config import RunConfig, validate
from kwslab.errors import ConfigError, DataError
from kwslab.utils.io import writable_dir, write_json


def lr_find(cfg: RunConfig, data: str | Path, out: str | Path, *,
            optimizers: list[str] | None = None, lr_min: float = 1e-6, lr_max: float = 1.0,
            min_steps: int = 100, smooth: float = 0.9, explode: float = 4.0) -> dict[str, Any]:
    """Run the range test for each optimizer; write ``lr_find.json`` and ``lr_find.png``.

    Args:
        cfg: the model, features and batch size to test (its ``train.optimizer`` if
            ``optimizers`` is not given).
        data: dataset folder or manifest (its training split is used, without augmentation).
        out: folder to write to.

    Returns:
        ``{"optimizers": {name: {"lr": [...], "loss": [...], "smoothed": [...],
        "suggested_lr": float, "min_loss_lr": float}}, "suggested_lr": {name: float}}``.
    """
    import torch
    import torch.nn.functional as F

    from kwslab.data import load_clips
    from kwslab.data.cache import cached_features
    from kwslab.data.speechcommands import select_split
    from kwslab.models import build, input_norm
    from kwslab.training.loop import seed_everything
    from kwslab.training.optim import make_optimizer

    if not 0 < lr_min < lr_max:
        raise ConfigError(f"need 0 < lr_min < lr_max, got {lr_min} and {lr_max}")
    if optimizers is not None and (not all(optimizers) or len(set(optimizers)) < len(optimizers)):
        raise ConfigError(f"--optimizers {','.join(optimizers)!r}: give distinct optimizer "
                          "names, e.g. adam,sgd")
    optimizers = optimizers or [cfg.train.optimizer]
    for name in optimizers:
        validate(replace(cfg, train=replace(cfg.train, optimizer=name)))
    writable_dir(out)  # before the sweep, not after it
    clips = select_split(load_clips(data, cfg.data, seed=cfg.train.seed), "train")
    if not clips:
        raise DataError(f"{data}: no training clips for {', '.join(cfg.data.words)}")
    x, ok, _ = cached_features(clips, cfg.features, progress=False, neighbours=True)
    index = {label: i for i, label in enumerate(cfg.data.labels)}
    y = np.array([index[c.label] for c in ok])
    bs = cfg.train.batch_size
    steps = max(min_steps, -(-len(y) // bs))
    factor = (lr_max / lr_min) ** (1 / (steps - 1))
    results = {}
    for name in optimizers:
        rng = seed_everything(cfg.train.seed)
        torch.set_num_threads(cfg.train.threads or torch.get_num_threads())
        model = build(cfg.model, cfg.features.shape, len(index))
        norm = input_norm(model)
        norm.feat_mean.fill_(float(x.mean()))
        norm.feat_std.fill_(float(x.std() + 1e-5))
        tc = replace(cfg.train, optimizer=name, lr=lr_min)
        opt = make_optimizer(model.parameters(), tc)
        model.train()
        lrs, losses, smoothed = [], [], []
        avg, best = 0.0, math.inf
        order = np.concatenate([rng.permutation(len(y)) for _ in range(-(-steps * bs // len(y)))])
        for step in range(steps):
            lr = lr_min * factor**step
            for group in opt.param_groups:
                group["lr"] = lr
            idx = order[step * bs:(step + 1) * bs]
            loss = F.cross_entropy(model(torch.from_numpy(np.ascontiguousarray(x[idx]))),
                                   torch.from_numpy(y[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                break
            avg = smooth * avg + (1 - smooth) * value
            s = avg / (1 - smooth ** (step + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(s)
            best = min(best, s)
            if step > 10 and s > explode * best:
                break
        i = int(np.argmin(smoothed))
        suggested = max(lr_min, lrs[i] / 10)
        results[name] = {"lr": lrs, "loss": losses, "smoothed": smoothed,
                         "min_loss_lr": lrs[i], "suggested_lr": suggested}
    summary = {"optimizers": results, "suggested_lr": {k: v["suggested_lr"]
                                                        for k, v in results.items()},
               "lr_min": lr_min, "lr_max": lr_max, "steps": steps, "batch_size": bs}
    out = Path(out)
    write_json(out / "lr_find.json", summary)
    plot(summary, out / "lr_find.png")
    return summary


def plot(summary: dict[str, Any], path: Path) -> None:
    """Smoothed loss against learning rate (log axis), one line per optimizer, with suggestions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kwslab.search.plots import save_figure

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in summary["optimizers"].items():
        label = f"{name} (suggested {r['suggested_lr']:.1e})"
        (line,) = ax.plot(r["lr"], r["smoothed"], label=label)
        j = int(np.argmin(np.abs(np.log(r["lr"]) - math.log(r["suggested_lr"]))))
        ax.plot([r["lr"][j]], [r["smoothed"][j]], "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.set_title("learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)
