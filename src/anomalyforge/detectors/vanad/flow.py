"""VAN-AD's Normalizing Flow Module (NFM): a masked autoregressive flow over per-time-step vectors.

The flow is zuko's MAF (a stack of MADE transforms with reversed variable orders between them) with a
``N(mu, I)`` base whose mean ``mu`` is drawn once at random and then fixed, as in the VAN-AD code (its
``nf_mode="rand"``). It learns the density of the normal per-step vectors of the training series; the
anomaly term of a step is ``-log p(x_t)``. Channels that are constant in the training series are left out
(their density would be a spike); ``flow_channels`` lists the modelled ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import zuko
from torch import nn

from anomalyforge.nn import flows as nn_flows
from anomalyforge.nn.training import TrainConfig, TrainReport, fit_loop

__all__ = ["build_flow", "fit_flow", "flow_nll"]


def build_flow(n_features: int, n_blocks: int, hidden: int, n_layers: int) -> zuko.flows.MAF:
    """A MAF of ``n_blocks`` MADE transforms with ``n_layers`` tanh hidden layers of ``hidden`` units."""
    return nn_flows.build_flow("maf", n_features, n_blocks, hidden, n_layers, activation=nn.Tanh)


def fit_flow(
    flow: zuko.flows.MAF,
    windows: np.ndarray,
    channels: Sequence[int],
    config: TrainConfig,
    rng: np.random.Generator,
    generator: torch.Generator,
    device: torch.device,
) -> TrainReport:
    """Train the flow by maximum likelihood on every step of the training windows.

    Args:
        flow: the MAF (its base mean is set here from ``generator``).
        windows: (n_windows, window, n_channels) training windows (VAN-AD draws them with stride 10).
        channels: indices of the modelled channels.
        config: epochs, batch size (in windows) and learning rate.
        rng: numpy generator for the batch order.
        generator: torch generator for the base mean.
        device: where to train.
    """
    with torch.no_grad():
        flow.base.loc.copy_(torch.randn(flow.base.loc.shape, generator=generator).to(flow.base.loc))
    data = torch.as_tensor(np.ascontiguousarray(windows[:, :, list(channels)]), dtype=torch.float32)

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        batch = data[torch.as_tensor(idx)].reshape(-1, data.shape[-1]).to(device)
        return -flow().log_prob(batch).mean()

    return fit_loop(flow, len(data), loss_fn, config, rng)


@torch.no_grad()
def flow_nll(flow: zuko.flows.MAF, vectors: np.ndarray, device: torch.device, chunk: int = 16384) -> np.ndarray:
    """``-log p(x_t)`` of each row of (n, k) vectors, as float64 (n,)."""
    out = np.empty(len(vectors))
    dist = flow()
    for start in range(0, len(vectors), chunk):
        batch = torch.as_tensor(np.ascontiguousarray(vectors[start : start + chunk]), dtype=torch.float32)
        out[start : start + chunk] = (-dist.log_prob(batch.to(device))).double().cpu().numpy()
    return out
