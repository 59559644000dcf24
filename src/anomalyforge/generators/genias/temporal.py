"""GenIAS with a temporal latent: one small latent vector per pair of time steps instead of one per window.

A flat latent of L = 100 numbers for a window of T = 200 steps and several dozen channels has to summarise
the whole window; on SMD and MSL the flat TCN-VAE reconstructed held-out training windows no better than
each window's own channel means (bench/bench_genias_vae.py). Here the encoder keeps the time axis: the TCN
output (B, H, T) is average-pooled by 2 and two 1x1 convolutions give ``mu`` and ``log sigma^2`` of shape
(B, C_lat, ceil(T/2)). The decoder upsamples it back with one stride-2 transposed convolution.

Everything downstream is unchanged: the latent is flattened to (B, C_lat * ceil(T/2)), Eq. 1
(``z~ = mu + psi * sigma * eps``), the compact KL of Eq. 2 (summed over every latent number) and the
perturbation loss of Eq. 3 apply to it as they do to a flat latent.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from anomalyforge.generators.genias.model import tcn_stack

__all__ = ["TemporalEncoder", "TemporalDecoder", "temporal_length"]


def temporal_length(window: int) -> int:
    """Latent steps of a window of ``window`` steps: ceil(window / 2)."""
    return math.ceil(window / 2)


class TemporalEncoder(nn.Module):
    """Dilated causal TCN -> average pool by 2 -> 1x1 convolutions to (mu, log sigma^2), flattened.

    Input (B, D, T); outputs mu, logvar of shape (B, C_lat * ceil(T/2)), laid out channel-major
    (the flattening of (B, C_lat, ceil(T/2))).
    """

    def __init__(
        self,
        n_channels: int,
        hidden: int,
        latent_channels: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.tcn = tcn_stack(n_channels, hidden, n_layers, kernel_size, dropout)
        # ceil_mode: an odd last step is averaged alone, so every step reaches the latent
        self.pool = nn.AvgPool1d(2, ceil_mode=True)
        self.mu = nn.Conv1d(hidden, latent_channels, 1)
        self.logvar = nn.Conv1d(hidden, latent_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.pool(self.tcn(x))
        return self.mu(h).flatten(1), self.logvar(h).flatten(1).clamp(-12.0, 8.0)


class TemporalDecoder(nn.Module):
    """(B, C_lat * ceil(T/2)) -> (B, D, T).

    A 3-tap convolution lifts the latent to H channels, a stride-2 transposed convolution doubles its
    length (cropped to T), a 3-tap convolution mixes neighbours and a 1x1 convolution maps to the D
    channels. Hidden activations are leaky (no dead zone: the output depends on z everywhere), and a
    linear path (a 1x1 convolution of the latent, each latent step feeding its two output steps) adds a
    per-step level, so levels outside the training range are extrapolated linearly, not clipped.
    """

    def __init__(
        self, n_channels: int, hidden: int, latent_channels: int, window: int, negative_slope: float = 0.1
    ) -> None:
        super().__init__()
        self.window = window
        self.latent_channels = latent_channels
        self.t_lat = temporal_length(window)
        self.negative_slope = negative_slope
        self.lift = nn.Conv1d(latent_channels, hidden, 3, padding=1)
        self.up = nn.ConvTranspose1d(hidden, hidden, kernel_size=4, stride=2, padding=1)
        self.mix = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv1d(hidden, n_channels, 1)
        self.level = nn.Conv1d(latent_channels, n_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zt = z.view(-1, self.latent_channels, self.t_lat)
        s = self.negative_slope
        h = F.leaky_relu(self.lift(zt), s)
        h = F.leaky_relu(self.up(h)[:, :, : self.window], s)
        h = F.leaky_relu(self.mix(h), s)
        level = self.level(zt).repeat_interleave(2, dim=2)[:, :, : self.window]
        return self.out(h) + level
