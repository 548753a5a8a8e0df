"""TC-ResNet (Choi et al. 2019, "Temporal Convolution for Real-time KWS on Mobile Devices").

Mel bins are treated as channels, so every conv is 1-D over time: the first layer already
sees the whole spectrum and the network needs few, cheap layers. ``depth`` 3 (the default)
is TC-ResNet8, 6 is TC-ResNet14; ``width`` 1.5 gives the paper's "-1.5" variants.
"""

from __future__ import annotations

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.models import InputNorm, channels, check_depth, register, require_2d

STEM_CHANNELS = 16  # x width
STAGE_CHANNELS = (24, 32, 48)  # x width; each stage starts with a stride-2 block
KERNEL = 9  # temporal kernel of the residual blocks
DEFAULT_BLOCKS = 3  # TC-ResNet8


class TCBlock(nn.Module):
    """conv9(stride) -> BN -> ReLU -> conv9 -> BN, plus a shortcut, then ReLU.

    The shortcut is the identity when shapes match, else 1x1 conv(stride) -> BN -> ReLU as in
    the paper's Figure 2(c).
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        pad = KERNEL // 2
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, KERNEL, stride=stride, padding=pad, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv1d(c_out, c_out, KERNEL, padding=pad, bias=False),
            nn.BatchNorm1d(c_out),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False),
                          nn.BatchNorm1d(c_out), nn.ReLU(inplace=True))
            if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, T) -> (N, C_out, ceil(T / stride))."""
        return torch.relu(self.body(x) + self.shortcut(x))


@register("tcresnet")
class TCResNet(nn.Module):
    """Conv1d(n_mels -> 16, k=3) -> residual blocks over 24, 32, 48 channels -> pool -> linear.

    Args:
        cfg: ``width`` scales every channel count; ``depth`` is the number of residual blocks
            (0: 3), spread over the three stages, earlier stages taking any remainder; the
            first block of each stage has stride 2. ``dropout`` is applied before the linear.
        input_shape: (n_mels, frames), e.g. (40, 101); the mel bins become input channels.
        n_classes: number of logits.
    """

    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        n_bins, _ = require_2d("tcresnet", input_shape)
        check_depth("tcresnet", cfg.depth)
        n_blocks = cfg.depth or DEFAULT_BLOCKS
        per_stage = [n_blocks // 3 + (i < n_blocks % 3) for i in range(3)]
        self.norm = InputNorm()
        c = channels(STEM_CHANNELS, cfg.width)
        self.stem = nn.Sequential(
            nn.Conv1d(n_bins, c, 3, padding=1, bias=False),
            nn.BatchNorm1d(c),
            nn.ReLU(inplace=True),
        )
        blocks = []
        for base, n in zip(STAGE_CHANNELS, per_stage, strict=True):
            c_out = channels(base, cfg.width)
            for i in range(n):
                blocks.append(TCBlock(c, c_out, 2 if i == 0 else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) float32 -> logits (batch, n_classes)."""
        x = self.blocks(self.stem(self.norm(x)))
        return self.head(self.dropout(x.mean(2)))
