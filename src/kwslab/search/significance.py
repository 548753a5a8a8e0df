"""Which differences between search methods are more than luck, said in words.

Each method runs once per seed; two methods are compared on the seeds both ran (a paired
comparison: the seed fixes the data order and the first samples, so pairing removes much of
the noise). A difference counts as significant when the 95 % interval of its mean over seeds
(Student's t) excludes zero. Each pair is tested on its own, so with many methods one pair in
twenty may look significant by chance; the statement says so. With one seed nothing can be
told apart, and the statement says that too.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (beyond: 1.96).
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``df`` degrees of freedom."""
    return T95[df - 1] if df <= len(T95) else 1.96


def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any]:
    """Mean of ``a - b`` over the seeds both have, its 95 % interval, and the verdict."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    n = len(diffs)
    out: dict[str, Any] = {"seeds": seeds, "mean_diff": None, "ci95": None,
                           "significant": False}
    if n == 0:
        return out
    mean = sum(diffs) / n
    out["mean_diff"] = mean
    if n < 2:
        return out
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    out["ci95"] = [mean - half, mean + half]
    out["significant"] = bool(mean - half > 0 or mean + half < 0)
    return out


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def significance(scores: dict[str, dict[int, float]], metric: str) -> dict[str, Any]:
    """Every pair of methods compared over seeds, and a statement in words.

    Args:
        scores: ``{method: {seed: value}}``, e.g. test accuracy of each run's chosen model.
        metric: what the values are, for the statement ("test accuracy").

    Returns:
        ``{"metric", "pairs": [{"a", "b", "seeds", "mean_diff", "ci95", "significant"}],
        "statement"}``; ``a`` is the method with the higher mean.
    """
    pairs = []
    for x, y in itertools.combinations(scores, 2):
        p = paired(scores[x], scores[y])
        if p["mean_diff"] is not None and p["mean_diff"] < 0:
            x, y = y, x
            p = paired(scores[x], scores[y])
        pairs.append({"a": x, "b": y, **p})
    return {"metric": metric, "pairs": pairs, "statement": statement(pairs, metric)}


def statement(pairs: list[dict[str, Any]], metric: str) -> str:
    """The comparison's conclusion in plain sentences."""
    if not pairs:
        return "Only one method ran: there is nothing to compare."
    most = max(len(p["seeds"]) for p in pairs)
    if most < 2:
        return (f"Each method ran with one seed, so no difference in {metric} can be told "
                f"from luck; repeat with --seeds 0,1,2 (or more).")
    lines = []
    for p in pairs:
        n = len(p["seeds"])
        if n < 2:
            lines.append(f"{p['a']} vs {p['b']}: fewer than two common seeds, not compared.")
            continue
        lo, hi = p["ci95"]
        if p["mean_diff"] == 0 and lo == hi == 0:
            lines.append(f"{p['a']} and {p['b']}: the same {metric} on every seed.")
            continue
        what = (f"{p['a']} beats {p['b']} by {_pts(p['mean_diff'])} points of {metric} "
                f"(95 % interval {_pts(lo)} to {_pts(hi)} over {n} seeds)")
        lines.append(f"{what}: significant." if p["significant"] else
                     f"{what}: not significant, the difference could be luck.")
    won = [p for p in pairs if p["significant"]]
    if not won:
        lines.append(f"No difference between the methods can be told from luck with {most} "
                     f"seeds; more seeds or a larger budget may tell them apart.")
    elif len(pairs) > 1:
        lines.append(f"Each of the {len(pairs)} pairs is tested on its own at 5 %: about one "
                     f"pair in twenty looks significant by chance.")
    return " ".join(lines)
