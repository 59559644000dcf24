"""Token pieces shared by the window transformers: per-window instance normalisation and a token embedding
(a circular 1-D convolution over the tokens plus fixed sinusoidal positions)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["instance_normalise", "sinusoidal_positions", "TokenEmbedding"]


def instance_normalise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each channel of each window scaled to mean 0 and standard deviation 1 over time (RevIN without
    affine parameters): (B, L, C) -> (B, L, C). A constant channel becomes zeros."""
    mean = x.mean(dim=1, keepdim=True)
    std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + eps)
    return (x - mean) / std


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """(n, d) fixed sine/cosine position codes (Vaswani et al.); an odd ``d`` drops the last cosine."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    out = torch.zeros(n, d)
    out[:, 0::2] = torch.sin(position * freq)
    out[:, 1::2] = torch.cos(position * freq)[:, : d // 2]
    return out


class TokenEmbedding(nn.Module):
    """(B, N, F) tokens of F features -> (B, N, d_model): circular convolution of width 3 over the tokens
    plus sinusoidal positions, then dropout.

    Args:
        n_features: features per token F.
        d_model: embedding size.
        max_tokens: most tokens a sequence may have.
        dropout: dropout probability after the embedding.
    """

    def __init__(self, n_features: int, d_model: int, max_tokens: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_features, d_model, kernel_size=3, padding=1, padding_mode="circular", bias=False)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="leaky_relu")
        self.register_buffer("positions", sinusoidal_positions(max_tokens, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        emb = self.conv(tokens.transpose(1, 2)).transpose(1, 2)
        return self.dropout(emb + self.positions[: tokens.shape[1]])
