"""GenIAS networks and losses (Darban et al., "GenIAS: Generator for Instantiating Anomalies in Time Series").

The TCN-VAE maps a window of shape (T, D) to an L-dimensional Gaussian posterior N(mu, sigma^2) and decodes
latent vectors back to (T, D) windows. Anomalies come from the perturbed latent of Eq. 1,
``z~ = mu + psi * (sigma * eps)``, with a learned positive scale ``psi``.

Torch tensors inside this module are laid out channels-first, (B, D, T), as ``torch.nn.Conv1d`` wants;
the generator wrapper converts from and to the package's (n, T, D) layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "CausalConvBlock",
    "tcn_stack",
    "TCNEncoder",
    "ConvTransposeDecoder",
    "GenIASNet",
    "receptive_field_layers",
    "compact_kl",
    "window_distance",
    "decoded_mean",
    "reconstruction_error",
    "perturbation_loss",
    "zero_perturbation_loss",
    "deviation_patch_mask",
]


def receptive_field_layers(window: int, kernel_size: int = 3) -> int:
    """Fewest dilated layers (dilation 2^i) whose causal receptive field covers ``window`` steps.

    The receptive field of n layers is ``1 + (kernel_size - 1) * (2^n - 1)``.
    """
    n = 1
    while 1 + (kernel_size - 1) * (2**n - 1) < window:
        n += 1
    return n


class CausalConvBlock(nn.Module):
    """One dilated causal convolution with ReLU, channel dropout and a residual connection.

    Input and output: (B, C_in, T) -> (B, C_out, T); step t only sees steps <= t (left padding).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        # channel ("spatial") dropout, as keras-tcn uses: one draw per (window, channel) instead of per step;
        # element-wise dropout spent ~20% of an epoch drawing Bernoulli masks (T times more draws)
        self.drop = nn.Dropout1d(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.relu(self.conv(F.pad(x, (self.pad, 0)))))
        return h + self.skip(x)


def tcn_stack(n_channels: int, hidden: int, n_layers: int, kernel_size: int, dropout: float) -> nn.Sequential:
    """``n_layers`` causal blocks with dilations 1, 2, 4, ...: (B, n_channels, T) -> (B, hidden, T)."""
    return nn.Sequential(
        *[
            CausalConvBlock(n_channels if i == 0 else hidden, hidden, kernel_size, 2**i, dropout)
            for i in range(n_layers)
        ]
    )


class TCNEncoder(nn.Module):
    """Stacked dilated causal convolutions -> (mu, log sigma^2) of an L-dim latent.

    The TCN output (B, H, T) is average-pooled to ``pooled_len`` steps and flattened before the two
    linear heads, so the latent keeps coarse temporal position instead of only a global summary.
    """

    def __init__(
        self,
        n_channels: int,
        hidden: int,
        latent_dim: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
        pooled_len: int,
    ) -> None:
        super().__init__()
        self.tcn = tcn_stack(n_channels, hidden, n_layers, kernel_size, dropout)
        self.pool = nn.AdaptiveAvgPool1d(pooled_len)
        self.mu = nn.Linear(hidden * pooled_len, latent_dim)
        self.logvar = nn.Linear(hidden * pooled_len, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) -> mu (B, L), logvar (B, L)."""
        h = self.pool(self.tcn(x)).flatten(1)
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)


class ConvTransposeDecoder(nn.Module):
    """Latent (B, L) -> linear to (B, H, T0) -> ``n_upsample`` stride-2 transposed convs -> (B, D, T).

    ``T0 = ceil(T / 2^n_upsample)``; the upsampled length ``T0 * 2^n_upsample >= T`` is cropped to T, so
    any window length works, powers of two or not. No dead zones: the hidden activations are leaky
    (``negative_slope``), so the output depends on z everywhere (with ReLU a region where every unit
    feeding a step is negative decodes to a constant: flat stretches at the output bias); the last layer is
    linear (a 1x1 convolution: one linear map per step), and a linear path from z adds a per-channel level,
    so window levels outside the range seen in training are extrapolated linearly, not clipped.
    """

    def __init__(
        self,
        n_channels: int,
        hidden: int,
        latent_dim: int,
        window: int,
        n_upsample: int,
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        self.window = window
        self.t0 = math.ceil(window / 2**n_upsample)
        self.hidden = hidden
        self.negative_slope = negative_slope
        self.fc = nn.Linear(latent_dim, hidden * self.t0)
        ups: list[nn.Module] = []
        for _ in range(n_upsample):
            ups += [
                nn.ConvTranspose1d(hidden, hidden, kernel_size=4, stride=2, padding=1),
                nn.LeakyReLU(negative_slope),
            ]
        self.up = nn.Sequential(*ups)
        self.out = nn.Conv1d(hidden, n_channels, kernel_size=1)
        self.level = nn.Linear(latent_dim, n_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc(z), self.negative_slope).view(-1, self.hidden, self.t0)
        return self.out(self.up(h)[:, :, : self.window]) + self.level(z).unsqueeze(2)


class GenIASNet(nn.Module):
    """TCN-VAE with the learnable perturbation scale psi (Eq. 1).

    Args:
        n_channels: D.
        window: T.
        latent_dim: L.
        hidden: convolution channels H.
        n_layers: TCN layers (dilations 1, 2, ..., 2^(n_layers-1)).
        kernel_size: TCN kernel size (3 in the paper).
        dropout: TCN dropout (0.1 in the paper).
        n_upsample: stride-2 transposed convolutions in the decoder.
        psi_mode: ``"scalar"`` (one psi) or ``"per_dim"`` (one psi per latent dimension).
        psi_init: initial value of psi (> 0).
        latent: ``"flat"`` (one L-vector per window, the paper's layout) or ``"temporal"``
            (``genias.temporal``: ``latent_channels`` numbers per pair of steps, L = latent_channels *
            ceil(T/2); ``latent_dim`` and ``n_upsample`` are then not used).
        latent_channels: latent numbers per latent step of the temporal layout.
    """

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent_dim: int,
        hidden: int,
        n_layers: int,
        kernel_size: int,
        dropout: float,
        n_upsample: int,
        psi_mode: str,
        psi_init: float,
        latent: str = "flat",
        latent_channels: int = 8,
    ) -> None:
        super().__init__()
        if latent == "temporal":
            from anomalyforge.generators.genias.temporal import TemporalDecoder, TemporalEncoder, temporal_length

            latent_dim = latent_channels * temporal_length(window)
            self.encoder = TemporalEncoder(n_channels, hidden, latent_channels, n_layers, kernel_size, dropout)
            self.decoder = TemporalDecoder(n_channels, hidden, latent_channels, window)
        else:
            self.encoder = TCNEncoder(
                n_channels, hidden, latent_dim, n_layers, kernel_size, dropout, math.ceil(window / 2**n_upsample)
            )
            self.decoder = ConvTransposeDecoder(n_channels, hidden, latent_dim, window, n_upsample)
        self.latent_dim = latent_dim
        size = 1 if psi_mode == "scalar" else latent_dim
        raw = math.log(math.expm1(psi_init))  # inverse softplus
        self.psi_raw = nn.Parameter(torch.full((size,), raw))

    @property
    def psi(self) -> torch.Tensor:
        """Perturbation scale, (1,) or (L,), always positive (softplus of a free parameter)."""
        return F.softplus(self.psi_raw)

    def perturbed_latent(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Eq. 1: ``z~ = mu + psi * (sigma * eps)``, all (B, L)."""
        return mu + self.psi * (torch.exp(0.5 * logvar) * eps)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training pass.

        Args:
            x: (B, D, T) standardised windows.
            generator: torch RNG for eps (None: the global one).

        Returns:
            ``(x_hat, x_tilde, mu, logvar)``: reconstruction from ``z = mu + sigma * eps`` and anomaly from
            the perturbed ``z~`` with an independent eps, both (B, D, T); mu, logvar (B, L).
        """
        mu, logvar = self.encoder(x)
        eps = torch.randn(2, *mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps[0]
        z_tilde = self.perturbed_latent(mu, logvar, eps[1])
        # chunk, not slicing: the backward of two slices allocates and fills a zero (2B, D, T) gradient per slice
        x_hat, x_tilde = self.decoder(torch.cat([z, z_tilde])).chunk(2)
        return x_hat, x_tilde, mu, logvar


# ------------------------------------------------------------------------------------------- losses
def compact_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_var: float, reduction: str = "sum") -> torch.Tensor:
    """Compact KL (Eq. 2, in the exact per-dimension form of Eq. 9): KL(N(mu, s^2) || N(0, prior_var)).

    ``0.5 * (s^2/p + mu^2/p - 1 - log(s^2/p))`` summed (Eq. 2) or averaged over latent dimensions.

    Args:
        mu: (B, L) posterior means.
        logvar: (B, L) posterior log variances.
        prior_var: sigma_prior^2.
        reduction: ``"sum"`` or ``"mean"`` over the L latent dimensions.

    Returns:
        (B,) KL per window.
    """
    ratio = torch.exp(logvar) / prior_var
    per_dim = 0.5 * (ratio + mu.pow(2) / prior_var - 1.0 - torch.log(ratio))
    return per_dim.mean(dim=1) if reduction == "mean" else per_dim.sum(dim=1)


def window_distance(a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """d(A, B) of Eq. 3: mean squared difference per window, (B, ...) x (B, ...) -> (B,), times ``scale``.

    ``scale = D_model / D`` makes it the mean over all D channels when the D - D_model constant channels
    (which never differ) are left out of the tensors.
    """
    return (a - b).pow(2).flatten(1).mean(dim=1) * scale


def decoded_mean(out: torch.Tensor, binary: torch.Tensor | None) -> torch.Tensor:
    """Decoder output (B, D, T) -> expected window: ``sigmoid`` of the logits on binary channels.

    Args:
        out: (B, D, T) decoder output (values on continuous channels, logits on binary ones).
        binary: (D,) bool, or None when no channel is binary.
    """
    if binary is None:
        return out
    return torch.where(binary[None, :, None], torch.sigmoid(out), out)


def reconstruction_error(
    x: torch.Tensor, out: torch.Tensor, binary: torch.Tensor | None, scale: float = 1.0
) -> torch.Tensor:
    """Reconstruction term (Eq. 5) per window: squared error on continuous channels, Bernoulli negative
    log-likelihood (BCE on the logits) on binary ones, averaged over the cells and times ``scale``.

    Args:
        x: (B, D, T) windows in model space (binary channels as 0 / 1).
        out: (B, D, T) decoder output.
        binary: (D,) bool, or None.
        scale: as in ``window_distance``.

    Returns:
        (B,) error per window.
    """
    cell = (x - out).pow(2)
    if binary is not None:
        bce = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        cell = torch.where(binary[None, :, None], bce, cell)
    return cell.flatten(1).mean(dim=1) * scale


def perturbation_loss(
    d_recon: torch.Tensor, d_anomaly: torch.Tensor, delta_min: float, delta_max: float
) -> torch.Tensor:
    """Eq. 3 per window: ``max(d(X,X^) - d(X,X~) + delta_min, 0) + max(d(X,X~) - delta_max, 0)``.

    Args:
        d_recon: (B,) distances between windows and their reconstructions.
        d_anomaly: (B,) distances between windows and their generated anomalies.
        delta_min: least margin by which an anomaly must be farther than the reconstruction.
        delta_max: largest allowed distance of an anomaly from its window.

    Returns:
        (B,) loss per window.
    """
    return F.relu(d_recon - d_anomaly + delta_min) + F.relu(d_anomaly - delta_max)


def zero_perturbation_loss(
    x: torch.Tensor, x_tilde: torch.Tensor, zero_mask: torch.Tensor, sq_diff: torch.Tensor | None = None
) -> torch.Tensor:
    """Zero-perturbation loss (Eq. 4) per window: penalises deviations on all-zero channels.

    For each step t and all-zero channel d the term is ``u / (1 + u)`` with ``u = (X[t,d] - X~[t,d])^2``:
    zero when the channel stays as it was, growing with the deviation and bounded by 1. (Eq. 4 as printed
    uses ``(d + 1)^-1``, which *decreases* with the deviation and so would reward perturbing zero
    channels, the opposite of what the text says the loss does; ``1 - (u + 1)^-1`` keeps its bounded form
    with the stated intent.) Averaged over T and the zero channels; windows without zero channels give 0.

    Args:
        x: (B, D, T) windows (model space).
        x_tilde: (B, D, T) generated anomalies.
        zero_mask: (B, D) bool, True where the raw window's channel is all zero.
        sq_diff: ``(x - x_tilde)^2`` when the caller has it already (it is not computed again).

    Returns:
        (B,) loss per window.
    """
    u = (x - x_tilde).pow(2) if sq_diff is None else sq_diff
    per_channel = (u / (1.0 + u)).mean(dim=2)  # (B, D)
    m = zero_mask.to(per_channel.dtype)
    return (per_channel * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def deviation_patch_mask(
    x: np.ndarray, x_tilde: np.ndarray, tau: float, per_step: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Deviation-based patching rule (Algorithm 2).

    Channel d of a window is replaced by the generated one when
    ``||X_d - X~_d||^2 > tau * (max X_d - min X_d)`` (squared L2 norm over the T steps), or, with
    ``per_step=True``, when ``||X_d - X~_d||^2 / T > tau * (max X_d - min X_d)``.

    Args:
        x: (B, T, D) windows.
        x_tilde: (B, T, D) generated anomalies.
        tau: threshold scaling factor.
        per_step: divide the squared norm by T (a tau that does not depend on the window length).

    Returns:
        ``(keep, ratio)``: bool (B, D) channels to take from ``x_tilde``, and (B, D) float deviation divided
        by amplitude (inf for a constant channel that deviates, 0 for one that does not), to rank channels.
    """
    deviation = ((x - x_tilde) ** 2).mean(axis=1) if per_step else ((x - x_tilde) ** 2).sum(axis=1)
    amplitude = x.max(axis=1) - x.min(axis=1)
    keep = deviation > tau * amplitude
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(amplitude > 0, deviation / np.where(amplitude > 0, amplitude, 1.0), np.inf)
    ratio = np.where(deviation > 0, ratio, 0.0)
    return keep, ratio
