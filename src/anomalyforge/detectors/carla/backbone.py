"""CARLA's network: a 1-D ResNet backbone with a projection head (stage 1) and a classification head (stage 2).

The backbone follows the ResNet baseline for time-series classification used by CARLA: three residual blocks,
each three convolutions with kernels 8, 5 and 3 ("same" padding, BatchNorm, ReLU), output widths
``[width, 2 * width, 2 * width]``, a residual shortcut on every block (a 1x1 convolution with BatchNorm when
the width changes, the identity otherwise) and a global average over time.

Windows arrive as (batch, time, channels), the layout of the rest of the package, and are *transposed* to
(batch, channels, time) for the convolutions in exactly one place, ``channels_first``; they are never
reshaped, which would mix time steps and channels (a defect of the public CARLA code).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["channels_first", "ResidualBlock", "ResNetBackbone1d", "CarlaNet"]

# torch notes that "same" padding with the even kernel 8 pads a copy of the input; that is intended here
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)

KERNELS = (8, 5, 3)


def channels_first(windows: torch.Tensor) -> torch.Tensor:
    """(batch, time, channels) -> (batch, channels, time) by a transpose (never a reshape)."""
    if windows.ndim != 3:
        raise ValueError(f"windows must have shape (batch, time, channels), got {tuple(windows.shape)}")
    return windows.transpose(1, 2)


class ResidualBlock(nn.Module):
    """Three conv-BN-ReLU layers (kernels 8, 5, 3) plus a shortcut; (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        widths = [in_channels, out_channels, out_channels, out_channels]
        for i, k in enumerate(KERNELS):
            layers += [
                nn.Conv1d(widths[i], widths[i + 1], kernel_size=k, padding="same", bias=False),
                nn.BatchNorm1d(widths[i + 1]),
            ]
            if i < len(KERNELS) - 1:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv1d(in_channels, out_channels, 1, bias=False), nn.BatchNorm1d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNetBackbone1d(nn.Module):
    """Three residual blocks and a global average over time: (B, C, T) -> (B, 2 * width)."""

    def __init__(self, in_channels: int, width: int = 8) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be >= 1, got {in_channels} and {width}")
        self.blocks = nn.Sequential(
            ResidualBlock(in_channels, width),
            ResidualBlock(width, 2 * width),
            ResidualBlock(2 * width, 2 * width),
        )
        self.out_features = 2 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) channels first. Returns (B, 2 * width)."""
        return self.blocks(x).mean(dim=-1)


class CarlaNet(nn.Module):
    """Backbone + projection head (L2-normalised embedding) + classification head.

    Args:
        in_channels: channels of the series.
        width: backbone width (blocks output ``width``, ``2 * width``, ``2 * width`` channels).
        embedding_dim: size of the stage-1 embedding.
        n_classes: classes of the stage-2 head.
    """

    def __init__(self, in_channels: int, width: int = 8, embedding_dim: int = 16, n_classes: int = 10) -> None:
        super().__init__()
        self.backbone = ResNetBackbone1d(in_channels, width)
        d = self.backbone.out_features
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, embedding_dim))
        self.classifier = nn.Linear(d, n_classes)

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, 2 * width) backbone features."""
        return self.backbone(channels_first(windows))

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, embedding_dim) L2-normalised stage-1 embedding."""
        return F.normalize(self.projection(self.features(windows)), dim=1)

    def logits(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, n_classes) stage-2 class logits."""
        return self.classifier(self.features(windows))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.logits(windows)
