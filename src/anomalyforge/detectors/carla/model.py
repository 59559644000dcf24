"""CARLA's network and losses: a 1-D ResNet backbone with a projection head (stage 1) and a classification
head (stage 2); the triplet loss (stage 1) and the SCAN loss (stage 2) as pure functions of tensors.

The backbone follows the ResNet baseline for time-series classification used by CARLA: three residual blocks,
each three convolutions with kernels 8, 5 and 3 ("same" padding, BatchNorm, ReLU), output widths
``[width, 2 * width, 2 * width]``, a residual shortcut on every block (a 1x1 convolution with BatchNorm when
the width changes, the identity otherwise) and a global average over time.

Windows arrive as (batch, time, channels), the layout of the rest of the package, and are *transposed* to
(batch, channels, time) for the convolutions in exactly one place, ``channels_first``; they are never
reshaped, which would mix time steps and channels (a defect of the public CARLA code).

The losses take already-computed embeddings / class probabilities, so each is tested on tiny tensors; the
detector builds the batches (one forward pass over anchors, positives and negatives together, as BatchNorm
in training mode must see them).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["channels_first", "ResidualBlock", "ResNetBackbone1d", "CarlaNet", "triplet_loss", "scan_loss"]

# torch notes that "same" padding with the even kernel 8 pads a copy of the input; that is intended here
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)

KERNELS = (8, 5, 3)
#: probabilities are clamped to at least this before a log
EPS = 1e-8


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
        n_classes: classes of the stage-2 head; None builds no classification head (a model used by its
            stage-1 features only).
    """

    def __init__(self, in_channels: int, width: int = 8, embedding_dim: int = 16, n_classes: int | None = 10) -> None:
        super().__init__()
        self.backbone = ResNetBackbone1d(in_channels, width)
        d = self.backbone.out_features
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, embedding_dim))
        # built last: with or without it, the backbone and projection get the same initial weights
        self.classifier = nn.Linear(d, n_classes) if n_classes is not None else None

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, 2 * width) backbone features."""
        return self.backbone(channels_first(windows))

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, embedding_dim) L2-normalised stage-1 embedding."""
        return F.normalize(self.projection(self.features(windows)), dim=1)

    def logits(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, T, C) windows -> (B, n_classes) stage-2 class logits."""
        if self.classifier is None:
            raise RuntimeError("this CarlaNet was built without a classification head (n_classes=None)")
        return self.classifier(self.features(windows))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.logits(windows)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """Stage 1: mean of ``max(0, |a - p|^2 - |a - n|^2 + margin)`` over the batch.

    Args:
        anchor, positive, negative: (B, d) embeddings (L2-normalised by ``CarlaNet.embed``, so squared
            distances lie in [0, 4]).
        margin: required gap between the negative's and the positive's squared distance.

    Returns:
        scalar tensor.
    """
    return F.relu((anchor - positive).pow(2).sum(1) - (anchor - negative).pow(2).sum(1) + margin).mean()


def scan_loss(
    p_anchor: torch.Tensor,
    p_neighbour: torch.Tensor,
    p_far: torch.Tensor | None = None,
    entropy_weight: float = 2.0,
    furthest_weight: float = 0.0,
) -> torch.Tensor:
    """Stage 2 (SCAN): ``-mean log <p_a, p_nn> - entropy_weight * H(mean_batch p_a)
    [- furthest_weight * mean log(1 - <p_a, p_far>)]``.

    Args:
        p_anchor: (B, K) class probabilities of the windows.
        p_neighbour: (B, K) probabilities of one nearest neighbour of each window (stage-1 embedding).
        p_far: (B, K) probabilities of one furthest neighbour of each; used when ``furthest_weight`` is not 0.
        entropy_weight: weight of the batch-entropy term (the paper: 2); it keeps every window from
            collapsing into one class.
        furthest_weight: weight of the furthest-neighbour term (0 leaves it out).

    Returns:
        scalar tensor; probabilities are clamped to ``EPS`` before each log.
    """
    consistency = -torch.log((p_anchor * p_neighbour).sum(1).clamp_min(EPS)).mean()
    mean_p = p_anchor.mean(0)
    loss = consistency + entropy_weight * (mean_p * torch.log(mean_p.clamp_min(EPS))).sum()  # - weight * entropy
    if furthest_weight:
        if p_far is None:
            raise ValueError("furthest_weight is not 0 but no furthest-neighbour probabilities were given")
        loss = loss - furthest_weight * torch.log((1.0 - (p_anchor * p_far).sum(1)).clamp_min(EPS)).mean()
    return loss
