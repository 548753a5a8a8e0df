"""BC-ResNet (Kim et al. 2021, "Broadcasted Residual Learning for Efficient KWS").

Each block does a cheap frequency-wise depthwise conv on the 2-D map, averages frequency
away, does the (dilated) temporal work in 1-D, and broadcasts the result back over
frequency. That keeps 2-D features at near 1-D cost: BC-ResNet-1 is about 9k parameters.
Layout follows the paper and the authors' code: stem 5x5 stride (2, 1); stages of 2, 2, 4, 4
blocks with 8, 12, 16, 20 channels (x width), frequency stride 2 entering stages 2 and 3,
temporal dilations 1, 2, 4, 8; head 5x5 depthwise, 1x1 to 32 channels, mean, 1x1 to classes.
"""

from __future__ import annotations

import torch
from torch import nn

from kwslab.config import ModelConfig
from kwslab.models import InputNorm, channels, check_depth, register, require_2d

STAGE_CHANNELS = (8, 12, 16, 20)  # x width; BC-ResNet-1
STAGE_DILATIONS = (1, 2, 4, 8)  # temporal dilation per stage
STAGE_FREQ_STRIDES = (1, 2, 2, 1)  # first block of a stage; 40 mels -> 20 -> 10 -> 5
STEM_CHANNELS = 16  # x width
HEAD_CHANNELS = 32  # x width
MAX_SUB_BANDS = 5  # the paper's SubSpectralNorm split


def conv_out(n: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a convolution along one axis."""
    return (n + 2 * pad - kernel) // stride + 1


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics per frequency sub-band.

    Implemented as one reshape (N, C, F, T) -> (N, C*S, F/S, T) around a BatchNorm2d of C*S
    channels: no Python loop over bands, and it exports to ONNX as Reshape + BatchNorm.
    ``S`` is the largest number <= 5 dividing ``n_bins`` (5 for 20, 10 and 5 bins).
    """

    def __init__(self, c: int, n_bins: int):
        super().__init__()
        self.c = c
        self.sub_bands = max(s for s in range(1, MAX_SUB_BANDS + 1) if n_bins % s == 0)
        self.bn = nn.BatchNorm2d(c * self.sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, F, T) -> same shape, channels-last like the rest of the network."""
        y = x.reshape(x.shape[0], self.c * self.sub_bands, -1, x.shape[-1])
        return self.bn(y).reshape(x.shape).contiguous(memory_format=torch.channels_last)


class BCResBlock(nn.Module):
    """One broadcasted residual block; a transition block when channels or frequency change.

    Transition: 1x1 conv -> BN -> ReLU first, and no identity shortcut (shapes differ).
    Then f2 = SSN(freq depthwise 3x1 conv), f1 = dropout(1x1(SiLU(BN(temporal dw conv(
    mean_F(f2)))))), out = ReLU([x +] f2 + broadcast(f1)).
    """

    def __init__(self, c_in: int, c_out: int, n_bins: int, freq_stride: int, dilation: int,
                 dropout: float):
        super().__init__()
        self.transition = c_in != c_out or freq_stride != 1
        self.pre = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                          nn.ReLU(inplace=True))
            if self.transition else nn.Identity()
        )
        self.freq_conv = nn.Conv2d(c_out, c_out, (3, 1), stride=(freq_stride, 1),
                                   padding=(1, 0), groups=c_out, bias=False)
        self.ssn = SubSpectralNorm(c_out, conv_out(n_bins, 3, freq_stride, 1))
        self.temporal = nn.Sequential(  # on (N, C, 1, T): 2-D ops keep the fast NHWC kernels
            nn.Conv2d(c_out, c_out, (1, 3), padding=(0, dilation), dilation=(1, dilation),
                      groups=c_out, bias=False),
            nn.BatchNorm2d(c_out),
            nn.SiLU(inplace=True),
            nn.Conv2d(c_out, c_out, 1, bias=False),
            nn.Dropout2d(dropout),  # channel dropout, as in the paper
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, F, T) -> (N, C_out, F / freq_stride, T)."""
        f2 = self.ssn(self.freq_conv(self.pre(x)))
        f1 = self.temporal(f2.mean(2, keepdim=True))  # (N, C, 1, T), broadcast over F
        out = f2 + f1 if self.transition else x + f2 + f1
        return torch.relu(out)


@register("bcresnet")
class BCResNet(nn.Module):
    """BC-ResNet-``width``: ``width`` 1, 1.5, 2, 3, 6, 8 give the paper's BC-ResNet-1 ... -8.

    Args:
        cfg: ``width`` scales every channel count; ``depth`` is the number of blocks in each
            of the first two stages, the last two get twice as many (0: 2, i.e. 2, 2, 4, 4);
            ``dropout`` is the channel dropout inside each block.
        input_shape: (n_mels, frames), e.g. (40, 101); any size works, the sub-band count of
            SubSpectralNorm adapts to the frequency bins left at each stage.
        n_classes: number of logits.
    """

    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        n_bins, _ = require_2d("bcresnet", input_shape)
        check_depth("bcresnet", cfg.depth)
        d = cfg.depth or 2
        repeats = (d, d, 2 * d, 2 * d)
        self.norm = InputNorm()
        c = channels(STEM_CHANNELS, cfg.width)
        self.stem = nn.Sequential(
            nn.Conv2d(1, c, 5, stride=(2, 1), padding=2, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        f = conv_out(n_bins, 5, 2, 2)
        blocks = []
        for base, dilation, stride, n in zip(STAGE_CHANNELS, STAGE_DILATIONS,
                                             STAGE_FREQ_STRIDES, repeats, strict=True):
            c_out = channels(base, cfg.width)
            for i in range(n):
                s = stride if i == 0 else 1
                blocks.append(BCResBlock(c, c_out, f, s, dilation, cfg.dropout))
                c, f = c_out, conv_out(f, 3, s, 1)
        self.blocks = nn.Sequential(*blocks)
        c_head = channels(HEAD_CHANNELS, cfg.width)
        k_freq = min(5, f)  # the paper's 5x5 collapses its 5 remaining bins to 1
        self.head = nn.Sequential(
            nn.Conv2d(c, c, (k_freq, 5), padding=(0, 2), groups=c, bias=False),
            nn.Conv2d(c, c_head, 1, bias=False),
            nn.BatchNorm2d(c_head),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(c_head, n_classes)  # the paper's 1x1 conv on a 1x1 map
        # Depthwise convs are several times faster in NHWC on CPU (oneDNN); 4-D weights are
        # stored channels-last and load_state_dict keeps that layout. (torch's stubs omit
        # Module.to(memory_format=), which it accepts.)
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) float32 -> logits (batch, n_classes)."""
        x = self.head(self.blocks(self.stem(self.norm(x).unsqueeze(1))))
        return self.classifier(x.mean((2, 3)))
