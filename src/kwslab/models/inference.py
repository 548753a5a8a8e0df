"""Running a trained torch model on features: one helper for training, evaluation and export."""

from __future__ import annotations

import numpy as np
import torch


def predict_logits(model: torch.nn.Module, x: np.ndarray, batch: int = 512) -> torch.Tensor:
    """Logits (n, n_labels) for features ``x`` (n, *feature shape), in batches, eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(np.ascontiguousarray(x[s : s + batch])))
                          for s in range(0, len(x), batch)])
