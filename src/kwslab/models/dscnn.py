"""DS-CNN (Zhang et al. 2017, "Hello Edge"): a strided conv, then depthwise-separable blocks.

Depthwise-separable convs cost about 1/9 of a full 3x3 conv, which is why this was the
microcontroller baseline. With ``width=1, depth=0`` this is DS-CNN-S: 64 channels, 4 blocks.
The paper's 10x4 (time x frequency) first kernel is (4, 10) here because our features are
laid out (n_mels, frames).
"""

from __future__ import annotations

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.errors import ConfigError
from kwslab.models import InputNorm, channels, check_depth, register, require_2d

BASE_CHANNELS = 64  # DS-CNN-S
DEFAULT_BLOCKS = 4  # DS-CNN-S / -M; DS-CNN-L uses 5
STEM_KERNEL = (4, 10)  # (freq, time): the paper's 10x4 time-by-frequency kernel
STEM_PADDING = (1, 4)  # 40x101 -> 20x50 with stride 2


class DSBlock(nn.Sequential):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU (convs biasless: BN follows)."""

    def __init__(self, c: int):
        super().__init__(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )


@register("dscnn")
class DSCNN(nn.Module):
    """Stem conv (stride 2) -> ``depth`` DS blocks -> global average pool -> dropout -> linear.

    Args:
        cfg: ``width`` scales the 64 channels, ``depth`` is the number of DS blocks (0: 4),
            ``dropout`` is applied before the classifier.
        input_shape: (n_mels, frames), e.g. (40, 101).
        n_classes: number of logits.
    """

    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        n_bins, n_frames = require_2d("dscnn", input_shape)
        if n_bins < 2 or n_frames < 2:
            raise ConfigError(f"dscnn needs at least 2x2 features, got {tuple(input_shape)}")
        check_depth("dscnn", cfg.depth)
        c = channels(BASE_CHANNELS, cfg.width)
        self.norm = InputNorm()
        self.stem = nn.Sequential(
            nn.Conv2d(1, c, STEM_KERNEL, stride=2, padding=STEM_PADDING, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(DSBlock(c) for _ in range(cfg.depth or DEFAULT_BLOCKS)))
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, n_classes)
        # NHWC: much faster depthwise convs on CPU. torch's stubs omit Module.to(memory_format=).
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) float32 -> logits (batch, n_classes)."""
        x = self.blocks(self.stem(self.norm(x).unsqueeze(1)))
        return self.head(self.dropout(x.mean((2, 3))))
