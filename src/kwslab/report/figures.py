"""Matplotlib figures of a report's plain data, each returned as PNG bytes.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so no
global pyplot state or display is involved and drawing is safe in any process.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from kwslab.report.data import Example

TRAIN, VAL = "#3b6ea8", "#e07b39"  # blue for training, orange for validation
DPI = 110


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.25, linewidth=0.6)
    ax.tick_params(labelsize=8)


def example(ex: Example) -> bytes:
    """Waveform above its features (log-Mel or MFCC) for one word, time in seconds."""
    fig = _figure(3.3, 2.7)
    ax_w, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.7))
    seconds = len(ex.wave) / ex.sample_rate
    t = np.arange(len(ex.wave)) / ex.sample_rate
    ax_w.plot(t, ex.wave, color=TRAIN, linewidth=0.5)
    peak = float(np.abs(ex.wave).max()) or 1.0
    ax_w.set_ylim(-peak * 1.1, peak * 1.1)
    ax_w.set_yticks([])
    ax_w.set_title(ex.label, fontsize=10, fontweight="bold", loc="left")
    ax_w.spines[["top", "right", "left"]].set_visible(False)
    ax_w.tick_params(labelsize=7)
    # Embeddings span the clip plus its 250 ms context on each side; spectrograms the clip.
    pad = 0.25 if ex.feature_kind == "speech-embedding" else 0.0
    ax_s.imshow(ex.features, origin="lower", aspect="auto", cmap="magma",
                extent=(-pad, seconds + pad, 0, ex.features.shape[0]), interpolation="nearest")
    ax_s.set_xlabel("time (s)", fontsize=8)
    ax_s.set_ylabel("embedding value" if pad else f"{ex.feature_kind} bin", fontsize=8)
    ax_s.tick_params(labelsize=7)
    return _png(fig)


def training_curves(history: Sequence[dict[str, float]], best_epoch: int | None = None) -> bytes:
    """Loss and accuracy per epoch, training vs validation; the kept epoch is marked."""
    epochs = [h["epoch"] for h in history]
    fig = _figure(8.4, 2.9)
    for ax, what in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [h[f"train_{what}"] for h in history], color=TRAIN, marker="o",
                markersize=2.5, linewidth=1.4, label="train")
        ax.plot(epochs, [h[f"val_{what}"] for h in history], color=VAL, marker="o",
                markersize=2.5, linewidth=1.4, label="validation")
        if best_epoch and best_epoch > 0:
            ax.axvline(best_epoch, color="#888", linestyle=":", linewidth=1, label="kept")
        ax.set_xlabel("epoch", fontsize=9)
        ax.set_title(what, fontsize=10, loc="left")
        if what == "accuracy":
            ax.set_ylim(0, 1.02)
        _style(ax)
        ax.legend(fontsize=8, frameon=False)
        if len(epochs) < 12:
            ax.set_xticks(epochs)
    return _png(fig)


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> bytes:
    """Confusion matrix, colour by row share (recall), counts written in each cell."""
    m = np.asarray(matrix, dtype=float)
    k = len(labels)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(3.4, 0.5 * k + 1.6)
    fig = _figure(size + 0.6, size)
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    font = 8 if k <= 12 else 6
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=font,
                        color="white" if share[i, j] > 0.55 else "#222")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of true class", fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    return _png(fig)


def det_curve(result: dict[str, Any]) -> bytes | None:
    """Miss rate against false accepts per hour, one point per threshold, from an eval-stream
    result (``det``: a list of ``{threshold, fa_per_hour, miss_rate}``); the operating point
    is marked. None if there are no points.
    """
    points = [p for p in result.get("det", []) if "fa_per_hour" in p and "miss_rate" in p]
    if not points:
        return None
    fig = _figure(5.6, 3.6)
    ax = fig.subplots()
    ax.plot([p["fa_per_hour"] for p in points], [100 * p["miss_rate"] for p in points],
            color=TRAIN, marker=".", linewidth=1.5, label="thresholds")
    op = result.get("operating_point") or {}
    if "fa_per_hour" in op and "miss_rate" in op:
        ax.plot([op["fa_per_hour"]], [100 * op["miss_rate"]], "o", color=VAL,
                label=f"threshold {op.get('threshold', '?')}")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false accepts per hour", fontsize=9)
    ax.set_ylabel("miss rate (%)", fontsize=9)
    _style(ax)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)
