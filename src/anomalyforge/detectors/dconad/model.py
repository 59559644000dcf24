"""DConAD's network: a raw and a differenced view of a window, a spatio-temporal transformer per view, and two
fused representations per time step that the contrastive objective aligns.

After Zhang et al., "DConAD: a differencing-based contrastive representation learning framework for time
series anomaly detection" (2025; papers/recent_anomaly_detection_papers.txt), written from the paper and a
reading of its public code:

* a window X (L, C) and its first difference dX = X[1:] - X[:-1] (L - 1, C), each instance-normalised per
  channel, are embedded by one shared token embedding (every step is a token of C values);
* each view has its own stack of spatio-temporal layers: a *temporal* attention block (tokens are time
  steps) and a *relation* attention block (tokens are the embedding dimensions, each a length-L profile, so
  the channel mix the embedding made is related across dimensions), concatenated and fused by a
  position-wise feed-forward layer;
* two representations of every step come out: ``series``, a bilinear interaction of the differenced and
  the raw hidden states (along time, per model dimension), and ``prior``, a feed-forward map of the two
  concatenated along time. Each is a distribution over the ``d_model`` dimensions of the step.

The public code normalises only the ``prior`` view to a distribution and feeds the sigmoid outputs of the
``series`` view to the KL divergence as they are; here both are normalised (a KL divergence needs two
distributions). The losses are in ``nn.contrastive``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from anomalyforge.nn.contrastive import kl_rows, normalise_rows
from anomalyforge.nn.tokens import TokenEmbedding, instance_normalise

__all__ = ["Bilinear", "TemporalBlock", "RelationBlock", "SpatioTemporalLayer", "DConADNet", "difference"]


def difference(x: torch.Tensor) -> torch.Tensor:
    """First difference along time: (B, L, C) -> (B, L - 1, C)."""
    return x[:, 1:] - x[:, :-1]


class _FeedForward(nn.Module):
    """Residual position-wise feed-forward sublayer with a post layer norm: (..., d) -> (..., d)."""

    def __init__(self, d: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.net(x))


class TemporalBlock(nn.Module):
    """Self-attention across the time steps of (B, L, d) hidden states, then a feed-forward sublayer."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.ff = _FeedForward(d_model, d_model, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a, _ = self.attention(h, h, h, need_weights=False)
        return self.ff(self.norm(h + a))


class RelationBlock(nn.Module):
    """Self-attention across the ``d_model`` dimensions of (B, L, d) hidden states (each dimension's
    length-L profile is a token), then a feed-forward sublayer over the dimensions of each step."""

    def __init__(self, length: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(length, 1, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(length)
        self.ff = _FeedForward(d_model, d_model, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        t = h.transpose(1, 2)
        a, _ = self.attention(t, t, t, need_weights=False)
        return self.ff(self.norm(t + a).transpose(1, 2))


class SpatioTemporalLayer(nn.Module):
    """Temporal and relation blocks side by side on (B, L, d), concatenated and fused back to d."""

    def __init__(self, length: int, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.temporal = TemporalBlock(d_model, n_heads, dropout)
        self.relation = RelationBlock(length, d_model, dropout)
        self.fuse = nn.Sequential(
            nn.LayerNorm(2 * d_model), nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(d_model, d_model),
        )  # fmt: skip
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fuse(torch.cat([self.temporal(h), self.relation(h)], dim=-1)))


class Bilinear(nn.Module):
    """``out_k = a^T W_k b + bias_k`` over the last axes of (..., n1) and (..., n2) inputs -> (..., n_out).

    The same map as ``torch.nn.Bilinear``, computed with one ``einsum``: torch's own bilinear backward is
    about 20 times slower on a CPU (4 s against 0.2 s for a batch of 128 windows of 60 steps).
    """

    def __init__(self, n1: int, n2: int, n_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n1)
        self.weight = nn.Parameter(torch.empty(n_out, n1, n2).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...i,kij,...j->...k", a, self.weight, b) + self.bias


class DConADNet(nn.Module):
    """Raw and differenced views -> per-step ``series`` and ``prior`` distributions over ``d_model``.

    Args:
        n_channels: C.
        window: L (at least 3, so the differenced view has 2 steps).
        d_model: hidden size, and the support of each step's distributions.
        n_heads: heads of the temporal attention (must divide ``d_model``).
        n_layers: spatio-temporal layers per view.
        dropout: dropout inside the transformer layers.
    """

    divergence = staticmethod(kl_rows)

    def __init__(self, n_channels: int, window: int, d_model: int, n_heads: int, n_layers: int, dropout: float):
        super().__init__()
        L = window
        self.embedding = TokenEmbedding(n_channels, d_model, L, dropout)
        self.raw_encoder = nn.Sequential(*[SpatioTemporalLayer(L, d_model, n_heads, dropout) for _ in range(n_layers)])
        self.diff_encoder = nn.Sequential(
            *[SpatioTemporalLayer(L - 1, d_model, n_heads, dropout) for _ in range(n_layers)]
        )
        self.interaction = Bilinear(L - 1, L, L)
        self.series_head = nn.Sequential(nn.LeakyReLU(), nn.Linear(L, L), nn.Sigmoid())
        self.prior_head = nn.Sequential(nn.Linear(2 * L - 1, L), nn.LeakyReLU(), nn.Linear(L, L), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(B, L, C) windows -> one pair ``(series, prior)``, each (B, L, d_model) with rows summing to 1."""
        raw = self.raw_encoder(self.embedding(instance_normalise(x))).transpose(1, 2)  # (B, d, L)
        diff = self.diff_encoder(self.embedding(instance_normalise(difference(x)))).transpose(1, 2)  # (B, d, L-1)
        series = self.series_head(self.interaction(diff, raw)).transpose(1, 2)
        prior = self.prior_head(torch.cat([diff, raw], dim=-1)).transpose(1, 2)
        return [(normalise_rows(series), normalise_rows(prior))]
