"""How GenIAS codes each channel for its VAE: continuous (standardised), binary (Bernoulli) or constant.

The kinds are read from the training series only (label-free): a channel with one value is constant (it is
not given to the network and is always decoded as that value); with ``discrete=True`` a channel with exactly
two values (MSL/SMAP command flags) is binary: coded 0 / 1 (its low / high value), modelled by Bernoulli
logits and decoded to exactly its two values; every other channel is standardised with the training mean
and std.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ChannelCoding", "detect_channel_kinds"]


def detect_channel_kinds(X: np.ndarray, discrete: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kinds of the channels of a training series X (n, C).

    Returns:
        ``(constant, binary, low, high)``: bool (C,) one-valued channels, bool (C,) two-valued channels
        (all False without ``discrete``), and each channel's min and max (C,). Without ``discrete`` no
        channel is constant either (every channel goes to the network, the paper's setting).
    """
    low, high = X.min(axis=0), X.max(axis=0)
    n_values = np.array([np.unique(X[:, d]).size for d in range(X.shape[1])])
    constant = (n_values == 1) & discrete
    if constant.all():  # nothing would be left to model: keep every channel in the network
        constant[:] = False
    binary = (n_values == 2) & discrete
    return constant, binary, low.astype(np.float64), high.astype(np.float64)


@dataclass(frozen=True)
class ChannelCoding:
    """Maps raw windows (N, T, C) to the network's space (N, D_model, T) and decoder outputs back.

    Attributes:
        mean, std: (C,) training standardisation.
        constant, binary: (C,) bool channel kinds (see ``detect_channel_kinds``).
        low, high: (C,) each channel's training min and max (a binary channel's two values).
    """

    mean: np.ndarray
    std: np.ndarray
    constant: np.ndarray
    binary: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def model_channels(self) -> np.ndarray:
        """Indices of the channels the network models (all but the constant ones)."""
        return np.flatnonzero(~self.constant)

    @property
    def binary_model(self) -> np.ndarray:
        """(D_model,) bool: which of the network's channels are binary (its outputs there are logits)."""
        return self.binary[self.model_channels]

    def standardise(self, windows: np.ndarray) -> np.ndarray:
        return (windows - self.mean) / self.std

    def encode(self, windows: np.ndarray) -> np.ndarray:
        """Raw (N, T, C) -> float32 (N, D_model, T): standardised, binary channels as 0 / 1 codes."""
        out = self.standardise(windows)
        if self.binary.any():
            b = self.binary
            out[..., b] = windows[..., b] >= 0.5 * (self.low[b] + self.high[b])
        return np.ascontiguousarray(out[..., self.model_channels].transpose(0, 2, 1), dtype=np.float32)

    def decode(self, out: np.ndarray, threshold: bool) -> np.ndarray:
        """Decoder output (N, D_model, T) -> raw windows (N, T, C).

        Continuous channels are de-standardised; binary channels take ``sigmoid(logit)`` and give their
        exact low / high value (``threshold=True``, at probability 0.5) or the expected value; constant
        channels are their training value exactly.
        """
        n, _, t = out.shape
        vals = out.transpose(0, 2, 1).astype(np.float64)
        raw = np.empty((n, t, len(self.mean)))
        raw[..., self.constant] = self.low[self.constant]
        raw[..., self.model_channels] = vals * self.std[self.model_channels] + self.mean[self.model_channels]
        if self.binary.any():
            b = self.binary
            logits = vals[..., self.binary_model]
            code = (logits > 0).astype(np.float64) if threshold else 1.0 / (1.0 + np.exp(-logits))
            raw[..., b] = self.low[b] + code * (self.high[b] - self.low[b])
            if threshold:  # exactly the two values, not low + 1.0 * (high - low) up to rounding
                raw[..., b] = np.where(code > 0, self.high[b], self.low[b])
        return raw
