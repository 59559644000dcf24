"""TransDe's network: trend / cyclical decomposition of each window, and per part a multi-scale patch
transformer whose patch-wise and in-patch attention maps are the two views the contrastive loss aligns.

After Zhang and Luo, "Decomposition-based multi-scale transformer framework for time series anomaly
detection" (2025; papers/recent_anomaly_detection_papers.txt), written from the paper and a reading of its
public code:

* each channel of an instance-normalised window (length L) is split into a trend, by the Hodrick-Prescott
  filter (the paper's choice, lambda 6400) or a centred moving average, and the cyclical residual;
  both are one fixed (L, L) linear smoother, applied as a matrix;
* for every patch size p (L must be a multiple of it) each part is cut into N = L / p patches. The
  *patch-wise* view has the N patches as tokens (p values each) and attends between patches; the
  *in-patch* view has the p positions inside a patch as tokens (the N values at that position) and attends
  between positions. Channels are processed independently with shared weights, and their maps averaged;
* the maps are brought to the steps of the window: step t's patch-wise row is the attention of its patch
  ``t // p`` spread evenly over the steps of every patch; its in-patch row is the attention of its position
  ``t % p`` spread over the steps at every position. The trend and cyclical rows are concatenated, so each
  step has two distributions over 2L cells. A cell j of the window is the pair (patch ``j // p``, position
  ``j % p``), so the patch-wise row is constant along positions and the in-patch row along patches: the
  views are kept as their factors, (B, L, 2, N) and (B, L, 2, p), and ``product_kl`` computes the exact
  divergence of the expanded rows without building them (the expanded form costs L x 2L per step);
* every layer has its own query/key projections, shared by both views, both parts and all patch sizes,
  and reads the same embedded tokens (the layers are parallel, not stacked, as in the public code).

Bugs of the public code not copied: its in-patch tokens are contiguous chunks of length N while its
upsampling tiles them as positions ``t % p`` (the two disagree; here the tokens are the positions), and only
one of the two views is normalised to a distribution before the KL divergence (here both are).
"""

from __future__ import annotations

import torch
from torch import nn

from anomalyforge.nn.contrastive import EPS
from anomalyforge.nn.tokens import TokenEmbedding, instance_normalise

__all__ = ["hp_smoother", "moving_average_smoother", "product_kl", "PatchAttention", "TransDeNet"]


def product_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) of two distributions over the cells (part k, m, r) of a product grid, given by factors.

    ``P[k, m, r] = p[k, m]`` for every r and ``Q[k, m, r] = q[k, r]`` for every m (or the other way round:
    the function is the same with the roles of the two last axes swapped, so ``product_kl(q, p)`` is
    KL(Q || P)). With the ``EPS`` of ``nn.contrastive.kl_rows`` inside the logarithms the result equals
    ``kl_rows`` of the expanded rows.

    Args:
        p: (..., K, M) cell values of P, each repeated over the R cells of its row of the grid.
        q: (..., K, R) cell values of Q, each repeated over the M cells of its column.

    Returns:
        (...) divergences.
    """
    R = q.shape[-1]
    own = R * (p * torch.log(p + EPS)).sum(dim=-1)
    cross = p.sum(dim=-1) * torch.log(q + EPS).sum(dim=-1)
    return (own - cross).sum(dim=-1)


def hp_smoother(length: int, lamb: float) -> torch.Tensor:
    """(L, L) Hodrick-Prescott trend operator ``(I + lamb D^T D)^-1`` (D: second differences)."""
    eye = torch.eye(length, dtype=torch.float64)
    d2 = eye[2:] - 2 * eye[1:-1] + eye[:-2] if length > 2 else torch.zeros(0, length, dtype=torch.float64)
    return torch.linalg.inv(eye + lamb * d2.T @ d2).float()


def moving_average_smoother(length: int, kernel: int) -> torch.Tensor:
    """(L, L) centred moving average of ``kernel`` steps, the ends padded by repeating the edge values."""
    half = kernel // 2
    out = torch.zeros(length, length)
    for t in range(length):
        for k in range(t - half, t - half + kernel):
            out[t, min(max(k, 0), length - 1)] += 1.0 / kernel
    return out


class PatchAttention(nn.Module):
    """Softmax attention map of (S, T, d) tokens with its own query/key projections -> (S, heads, T, T)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        S, T, d = tokens.shape
        q = self.query(tokens).reshape(S, T, self.n_heads, -1).transpose(1, 2)
        k = self.key(tokens).reshape(S, T, self.n_heads, -1).transpose(1, 2)
        return torch.softmax(q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5), dim=-1)


class TransDeNet(nn.Module):
    """Windows -> patch-wise (``series``) and in-patch (``prior``) per-step distributions.

    Args:
        n_channels: C.
        window: L, a multiple of every patch size.
        patch_sizes: patch lengths (each >= 2 with at least 2 patches per window).
        d_model: token embedding size.
        n_heads: attention heads (divide ``d_model``).
        n_layers: parallel attention layers.
        dropout: dropout after the token embeddings.
        smoother: (L, L) trend operator (``hp_smoother`` or ``moving_average_smoother``).
    """

    divergence = staticmethod(product_kl)

    def __init__(
        self,
        n_channels: int,
        window: int,
        patch_sizes: tuple[int, ...],
        d_model: int,
        n_heads: int,
        n_layers: int,
        dropout: float,
        smoother: torch.Tensor,
    ) -> None:
        super().__init__()
        self.n_channels, self.window, self.patch_sizes = n_channels, window, tuple(patch_sizes)
        self.register_buffer("smoother", smoother.float())
        self.patch_embed = nn.ModuleList(TokenEmbedding(p, d_model, window // p, dropout) for p in self.patch_sizes)
        self.position_embed = nn.ModuleList(TokenEmbedding(window // p, d_model, p, dropout) for p in self.patch_sizes)
        self.layers = nn.ModuleList(PatchAttention(d_model, n_heads) for _ in range(n_layers))

    def decompose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, C) windows -> (trend, cyclical), each (B * C, L) per-channel sequences."""
        B, L, C = x.shape
        seq = instance_normalise(x).permute(0, 2, 1).reshape(B * C, L)
        trend = seq @ self.smoother.T
        return trend, seq - trend

    def _part_maps(self, part: torch.Tensor, B: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One part's (B * C, L) sequences -> per (patch size, layer): the patch-wise (B, H, N, N) and in-patch
        (B, H, p, p) attention maps, averaged over channels."""
        L, C = self.window, self.n_channels
        out = []
        for i, p in enumerate(self.patch_sizes):
            patches = part.reshape(-1, L // p, p)
            by_patch = self.patch_embed[i](patches)  # N tokens of p values
            by_position = self.position_embed[i](patches.transpose(1, 2))  # p tokens of N values
            for layer in self.layers:
                a, b = layer(by_patch), layer(by_position)
                out.append((a.reshape(B, C, *a.shape[1:]).mean(dim=1), b.reshape(B, C, *b.shape[1:]).mean(dim=1)))
        return out

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(B, L, C) windows -> per (patch size, layer, head) a pair ``(series, prior)`` of factored per-step
        views: series (B, L, 2, N) and prior (B, L, 2, p), for the trend and cyclical parts; expanded over
        the window's 2L cells (see ``product_kl``) each step's rows sum to 1."""
        B, L = x.shape[0], self.window
        trend, cyclical = self.decompose(x)
        steps = torch.arange(L, device=x.device)
        pairs = []
        for (a_t, b_t), (a_c, b_c), p in zip(
            self._part_maps(trend, B), self._part_maps(cyclical, B),
            [p for p in self.patch_sizes for _ in self.layers], strict=True,
        ):  # fmt: skip
            n = L // p
            # (B, H, L, 2, N): step t's patch row; (B, H, L, 2, p): step t's position row; / 2 for the two parts
            series = torch.stack([a_t, a_c], dim=-2)[:, :, steps // p] / (2 * p)
            prior = torch.stack([b_t, b_c], dim=-2)[:, :, steps % p] / (2 * n)
            pairs.extend((series[:, h], prior[:, h]) for h in range(series.shape[1]))
        return pairs
