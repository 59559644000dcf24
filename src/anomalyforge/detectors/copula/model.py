"""Torch modules of the copula detector: a per-channel transformer encoder and a copula density head.

The density of a window is modelled in a latent space with marginals, temporal dynamics and inter-channel
dependence kept apart (papers/beyond_marginals_copula_abstract.txt):

* temporal dynamics: one transformer encoder, shared by every channel, reads each channel's window as a
  sequence of patch tokens and gives ``latent_dim`` numbers per channel;
* marginals: every latent coordinate has its own 1-D Gaussian mixture, whose CDF maps it to a uniform;
* dependence: a Gaussian or Student-t copula over all latent coordinates (channels x latent_dim), with a
  correlation matrix parametrised by a row-normalised Cholesky factor.

``log p(z) = sum_i log f_i(z_i) + log c(F_1(z_1), ..., F_D(z_D))``. The head runs in float64 so that the
copula's quantile transforms stay accurate in the tails.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import nn

__all__ = ["ChannelEncoder", "MixtureMarginals", "Copula", "CopulaDensity", "LatentCopulaModel"]

_TAIL = 1e-15  # smallest tail probability fed to a quantile function


class ChannelEncoder(nn.Module):
    """Transformer over the patches of each channel's window, with weights shared across channels.

    Input (B, T, C) -> output (B, C, latent_dim). Tokens are patches of ``patch_len`` time steps of one
    channel, so the latent of a channel only sees that channel (dependence is left to the copula).
    """

    def __init__(
        self, window: int, patch_len: int, d_model: int, n_heads: int, n_layers: int, latent_dim: int
    ) -> None:
        super().__init__()
        self.patch_len = patch_len
        self.n_patches = math.ceil(window / patch_len)
        self.pad = self.n_patches * patch_len - window
        self.embed = nn.Linear(patch_len, d_model)
        self.pos = nn.Parameter(torch.randn(self.n_patches, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        seq = x.permute(0, 2, 1).reshape(B * C, T)
        if self.pad:
            seq = torch.cat([seq, seq[:, -1:].expand(-1, self.pad)], dim=1)
        tokens = self.embed(seq.reshape(B * C, self.n_patches, self.patch_len)) + self.pos
        hidden = self.norm(self.transformer(tokens).mean(dim=1))
        return self.head(hidden).reshape(B, C, -1)


class MixtureMarginals(nn.Module):
    """A K-component Gaussian mixture per latent coordinate: log density, CDF and survival function."""

    def __init__(self, n_dims: int, n_components: int, min_scale: float = 0.05) -> None:
        super().__init__()
        self.min_scale = min_scale
        self.logits = nn.Parameter(torch.zeros(n_dims, n_components))
        self.loc = nn.Parameter(torch.linspace(-1.5, 1.5, n_components).repeat(n_dims, 1))
        self.raw_scale = nn.Parameter(torch.full((n_dims, n_components), 0.5))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, D) -> (log density (B, D), CDF (B, D), survival (B, D))."""
        scale = self.min_scale + nn.functional.softplus(self.raw_scale)
        logw = torch.log_softmax(self.logits, dim=-1)
        u = (z[..., None] - self.loc) / scale
        log_pdf = torch.logsumexp(logw - 0.5 * u**2 - torch.log(scale) - 0.5 * math.log(2 * math.pi), dim=-1)
        w = logw.exp()
        cdf = (w * torch.special.ndtr(u)).sum(-1)
        sf = (w * torch.special.ndtr(-u)).sum(-1)
        return log_pdf, cdf, sf


class _StudentTQuantile(torch.autograd.Function):
    """Student-t quantile of (cdf, survival) with implicit gradients (scipy has the special functions)."""

    @staticmethod
    def forward(ctx, cdf: torch.Tensor, sf: torch.Tensor, df: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        c = cdf.detach().cpu().numpy()
        s = sf.detach().cpu().numpy()
        nu = float(df)
        lower = c < 0.5  # each side's quantile only where it is accurate; the other side gets a safe 0.25
        c = np.where(lower, c, 0.25).clip(_TAIL, 0.5)
        s = np.where(lower, 0.25, s).clip(_TAIL, 0.5)
        q = np.where(lower, stats.t.ppf(c, nu), stats.t.isf(s, nu))
        h = 1e-4 * max(nu, 1.0)
        dq_dnu = np.where(
            lower,
            stats.t.ppf(c, nu + h) - stats.t.ppf(c, nu - h),
            stats.t.isf(s, nu + h) - stats.t.isf(s, nu - h),
        ) / (2 * h)
        pdf = np.maximum(stats.t.pdf(q, nu), 1e-300)
        as_t = lambda a: torch.as_tensor(a, dtype=cdf.dtype, device=cdf.device)  # noqa: E731
        ctx.save_for_backward(as_t(lower.astype(np.float64)), as_t(1.0 / pdf), as_t(np.nan_to_num(dq_dnu)))
        return as_t(q)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        lower, inv_pdf, dq_dnu = ctx.saved_tensors
        return grad * inv_pdf * lower, -grad * inv_pdf * (1 - lower), (grad * dq_dnu).sum()


class Copula(nn.Module):
    """Gaussian or Student-t copula with a correlation matrix from a row-normalised Cholesky factor.

    ``R = (1 - shrinkage) * L L^T + shrinkage * I`` keeps the density bounded when latents are nearly
    collinear (constant or duplicated channels). For ``kind="student_t"`` the degrees of freedom are
    learned (``2 + softplus``) unless ``df`` is given.
    """

    def __init__(self, n_dims: int, kind: str = "gaussian", df: float | None = None, shrinkage: float = 0.05) -> None:
        super().__init__()
        if kind not in ("gaussian", "student_t"):
            raise ValueError(f"copula must be 'gaussian' or 'student_t', got {kind!r}")
        self.kind, self.n_dims, self.shrinkage = kind, n_dims, shrinkage
        self.lower = nn.Parameter(torch.zeros(n_dims, n_dims))
        self.raw_diag = nn.Parameter(torch.full((n_dims,), math.log(math.e - 1)))  # softplus -> 1
        self.fixed_df = df
        self.raw_df = nn.Parameter(torch.tensor(math.log(math.expm1(3.0))))  # df = 2 + 3 at start

    def df(self) -> torch.Tensor:
        if self.fixed_df is not None:
            return torch.tensor(float(self.fixed_df), dtype=self.raw_df.dtype)
        return 2.0 + nn.functional.softplus(self.raw_df)

    def correlation_cholesky(self) -> torch.Tensor:
        """(D, D) lower Cholesky factor of the (shrunk) correlation matrix."""
        L = torch.tril(self.lower, -1) + torch.diag(nn.functional.softplus(self.raw_diag) + 1e-6)
        L = L / L.norm(dim=1, keepdim=True)
        eye = torch.eye(self.n_dims, dtype=L.dtype, device=L.device)
        R = (1 - self.shrinkage) * (L @ L.T) + self.shrinkage * eye
        return torch.linalg.cholesky(R)

    def correlation(self) -> torch.Tensor:
        chol = self.correlation_cholesky()
        return chol @ chol.T

    def forward(self, cdf: torch.Tensor, sf: torch.Tensor) -> torch.Tensor:
        """Copula log density of uniforms given as (cdf, survival), both (B, D) -> (B,)."""
        chol = self.correlation_cholesky()
        half_logdet = torch.log(torch.diagonal(chol)).sum()
        D = self.n_dims
        if self.kind == "gaussian":
            lower = cdf < 0.5  # each side's quantile only where it is accurate; the other side gets a safe 0.25
            c = torch.where(lower, cdf, 0.25).clamp(_TAIL, 0.5)
            s = torch.where(lower, 0.25, sf).clamp(_TAIL, 0.5)
            q = torch.where(lower, torch.special.ndtri(c), -torch.special.ndtri(s))
            w = torch.linalg.solve_triangular(chol, q.T, upper=False).T
            return -half_logdet - 0.5 * (w**2).sum(-1) + 0.5 * (q**2).sum(-1)
        nu = self.df()
        q = _StudentTQuantile.apply(cdf, sf, nu)
        w = torch.linalg.solve_triangular(chol, q.T, upper=False).T
        joint = (
            torch.lgamma((nu + D) / 2) - torch.lgamma(nu / 2) - D / 2 * torch.log(nu * math.pi) - half_logdet
            - (nu + D) / 2 * torch.log1p((w**2).sum(-1) / nu)
        )
        margins = (
            torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)
            - (nu + 1) / 2 * torch.log1p(q**2 / nu)
        ).sum(-1)
        return joint - margins


class CopulaDensity(nn.Module):
    """Marginal mixtures + copula over D latent coordinates (float64)."""

    def __init__(self, n_dims: int, n_components: int, kind: str, df: float | None, shrinkage: float) -> None:
        super().__init__()
        self.marginals = MixtureMarginals(n_dims, n_components)
        self.copula = Copula(n_dims, kind, df, shrinkage)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, D) -> (sum of marginal log densities (B,), copula log density (B,))."""
        log_pdf, cdf, sf = self.marginals(z)
        return log_pdf.sum(-1), self.copula(cdf, sf)


class LatentCopulaModel(nn.Module):
    """Encoder (float32) + density head (float64): window (B, T, C) -> log-likelihood terms."""

    def __init__(
        self,
        n_channels: int,
        window: int,
        patch_len: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        latent_dim: int,
        n_components: int,
        kind: str,
        df: float | None,
        shrinkage: float,
    ) -> None:
        super().__init__()
        self.encoder = ChannelEncoder(window, patch_len, d_model, n_heads, n_layers, latent_dim)
        self.density = CopulaDensity(n_channels * latent_dim, n_components, kind, df, shrinkage).double()

        n_dims = n_channels * latent_dim
        self.register_buffer("latent_mean", torch.zeros(n_dims, dtype=torch.float64))
        self.register_buffer("latent_std", torch.ones(n_dims, dtype=torch.float64))

    def raw_latents(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) float32 -> unstandardised latents (B, C * latent_dim) float64."""
        return self.encoder(x).reshape(x.shape[0], -1).double()

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> latents standardised with the stored training statistics, (B, D) float64."""
        return (self.raw_latents(x) - self.latent_mean) / self.latent_std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C) -> (latents (B, D), marginal log density (B,), copula log density (B,))."""
        z = self.latents(x)
        marginal, dependence = self.density(z)
        return z, marginal, dependence
