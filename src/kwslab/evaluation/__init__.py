"""Scoring models: clips (accuracy, per class and speaker, the mistakes) and streams (hits,
false accepts per hour, DET, per-word thresholds). Compute first: these return plain data;
the CLI and the report draw it."""

from kwslab.evaluation.clips import (
    classification_report,
    clip_predictions,
    evaluate,
    expand_inputs,
    predict,
    wilson_interval,
)

__all__ = ["classification_report", "clip_predictions", "evaluate", "expand_inputs",
           "predict", "wilson_interval"]
