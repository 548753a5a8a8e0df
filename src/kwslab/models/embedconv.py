"""A small convolutional head for pretrained speech embeddings (``speech_embedding`` features).

The frozen front end (:mod:`kwslab.features.embedding`) already turns speech into 96 values
every 80 ms; what is left to learn is which short sequence of embeddings is which word. Two
temporal convolutions (kernel 3, 240 ms together) look at neighbouring embeddings, a max over
time keeps the best-matching position (the word may sit anywhere in the clip), and a linear
layer classifies: the head Lin et al. (2020) found enough, ~60k parameters at width 1.
"""

from __future__ import annotations

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.models import InputNorm, channels, check_depth, register, require_2d

BASE_CHANNELS = 128  # x width
KERNEL = 3  # embeddings (80 ms apart) per convolution
DEFAULT_LAYERS = 2


@register("embedconv")
class EmbedConv(nn.Module):
    """(Conv1d(k=3) -> ReLU -> Dropout) x depth -> max over time -> Dropout -> Linear.

    Args:
        cfg: ``width`` scales the 128 channels, ``depth`` is the number of conv layers
            (0: 2), ``dropout`` follows every layer.
        input_shape: (96, embeddings), e.g. (96, 9); any (channels, frames) works.
        n_classes: number of logits.
    """

    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        n_in, _ = require_2d("embedconv", input_shape)
        check_depth("embedconv", cfg.depth)
        self.norm = InputNorm()
        c = channels(BASE_CHANNELS, cfg.width)
        layers: list[nn.Module] = []
        for i in range(cfg.depth or DEFAULT_LAYERS):
            layers += [nn.Conv1d(n_in if i == 0 else c, c, KERNEL, padding=KERNEL // 2),
                       nn.ReLU(inplace=True), nn.Dropout(cfg.dropout)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 96, embeddings) float32 -> logits (batch, n_classes)."""
        return self.head(self.body(self.norm(x)).amax(2))
