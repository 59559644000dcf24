"""One builder for the normalizing flows the package uses (zuko's MAF and RealNVP).

The flow detectors (``realnvp``, ``maf``), the ``flow`` anomaly generator and VAN-AD's density module all
build their flows here, so the choice of library, layer widths and activation lives in one place.
"""

from __future__ import annotations

from typing import Any

import zuko
from torch import nn

__all__ = ["FLOW_KINDS", "build_flow"]

FLOW_KINDS = ("maf", "realnvp")


def build_flow(
    kind: str,
    features: int,
    transforms: int,
    hidden_features: int,
    hidden_layers: int,
    *,
    passes: int | None = None,
    activation: type[nn.Module] | None = None,
) -> zuko.flows.Flow:
    """A zuko flow over ``features`` dimensions with a standard normal base (unconditional).

    Args:
        kind: ``"maf"`` (masked autoregressive) or ``"realnvp"`` (affine coupling).
        features: dimension of the modelled vectors (>= 2).
        transforms: number of flow layers.
        hidden_features: width of each hidden layer of the conditioner networks.
        hidden_layers: number of hidden layers of the conditioner networks.
        passes: MAF only: autoregressive passes (None: one per feature, the fully autoregressive MAF);
            fewer passes group features into blocks, which makes sampling faster.
        activation: hidden activation of the conditioners (None: zuko's default, ReLU).

    Raises:
        ValueError: for an unknown kind, fewer than 2 features, or ``passes`` with RealNVP.
    """
    if kind not in FLOW_KINDS:
        raise ValueError(f"unknown flow kind {kind!r}; use one of {', '.join(FLOW_KINDS)}")
    if features < 2:
        raise ValueError(
            f"a {kind} flow needs vectors of at least 2 features, got {features}; "
            "use a longer window or more PCA components"
        )
    options: dict[str, Any] = {
        "transforms": int(transforms),
        "hidden_features": [int(hidden_features)] * int(hidden_layers),
    }
    if activation is not None:
        options["activation"] = activation
    if kind == "maf":
        if passes is not None:
            options["passes"] = int(passes)
        return zuko.flows.MAF(int(features), **options)
    if passes is not None:
        raise ValueError("passes applies to the MAF only")
    return zuko.flows.RealNVP(int(features), **options)
