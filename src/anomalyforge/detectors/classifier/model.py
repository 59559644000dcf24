"""The forged-window classifier's network and loss: CARLA's 1-D ResNet backbone with a one-logit head, and
binary cross-entropy on logits as a pure function of tensors.

Windows arrive as (batch, time, channels) and are transposed once, by ``carla.model.channels_first``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anomalyforge.detectors.carla.model import ResNetBackbone1d, channels_first

__all__ = ["WindowClassifierNet", "bce_loss"]


class WindowClassifierNet(nn.Module):
    """Backbone (three residual blocks, global average over time) + a linear head giving one logit.

    Args:
        in_channels: channels of the series.
        width: backbone width (blocks output ``width``, ``2 * width``, ``2 * width`` channels).
    """

    def __init__(self, in_channels: int, width: int = 4) -> None:
        super().__init__()
        self.backbone = ResNetBackbone1d(in_channels, width)
        self.head = nn.Linear(self.backbone.out_features, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B,) logits of P(anomaly)."""
        return self.head(self.backbone(channels_first(windows))).squeeze(-1)


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of (B,) logits against (B,) 0/1 labels (1 = forged), computed on logits
    (``log(1 + exp(-|z|))`` form, stable for large logits).

    Returns:
        scalar tensor.
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must have one shape")
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
