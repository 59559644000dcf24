"""The detector set of ../shared/papers/normalizing_flow_anomaly_detection.txt (section 4.2), as one preset.

``paper_preset()`` returns unfitted detectors keyed by registry name, with the settings the paper states:

========================  ==========================================================================
``realnvp``               normalizing flow with RealNVP coupling layers, score = negative log-likelihood
``iforest``               isolation forest, 100 trees, contamination 0.05
``ocsvm``                 one-class SVM, RBF kernel, gamma 0.1, nu 0.05
``elliptic``              elliptic envelope (robust covariance), contamination 0.05
``autoencoder``           two hidden layers with dropout, bottleneck 2, 100 epochs, MSE
========================  ==========================================================================

The paper scores single time steps of a vehicle-sensor table; this library scores windows, so every
detector of the preset gets the same ``window`` (default 10) and the paper's contamination of 0.05 sets each
``threshold_`` (the 0.95 quantile of its training scores). What the paper leaves open stays at this
library's defaults: the flow's depth and widths, the autoencoder's widths and dropout rate. Note that
``ocsvm`` divides gamma by the window vector's dimension (see ``detectors/classic.py``), so gamma 0.1 keeps
the kernel width of the paper's per-feature standardised inputs.

Example:
    >>> from anomalyforge.detectors.flows import paper_preset
    >>> detectors = paper_preset(window=10)
    >>> sorted(detectors)
    ['autoencoder', 'elliptic', 'iforest', 'ocsvm', 'realnvp']
"""

from __future__ import annotations

from typing import Any

from anomalyforge.core.base import BaseDetector
from anomalyforge.core.registry import make_detector

__all__ = ["PAPER_SETTINGS", "paper_preset"]

PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "realnvp": {"contamination": 0.05},
    "iforest": {"n_estimators": 100, "contamination": 0.05},
    "ocsvm": {"gamma": 0.1, "nu": 0.05, "contamination": 0.05},
    "elliptic": {"contamination": 0.05},
    "autoencoder": {"bottleneck": 2, "epochs": 100, "patience": 0, "contamination": 0.05},
}
"""The paper's stated settings for each detector of the preset (registry name -> parameters)."""


def paper_preset(
    window: int = 10, random_state: int | None = 0, **overrides: dict[str, Any]
) -> dict[str, BaseDetector]:
    """Unfitted detectors of the normalizing-flow paper, with its settings.

    Args:
        window: window length given to every detector.
        random_state: seed of the detectors that take one.
        **overrides: per-detector parameter changes, e.g. ``realnvp={"epochs": 5}``.

    Returns:
        dict registry name -> unfitted detector, in the paper's order (flow, isolation forest, one-class
        SVM, autoencoder, elliptic envelope).
    """
    unknown = set(overrides) - set(PAPER_SETTINGS)
    if unknown:
        raise ValueError(f"overrides for detectors not in the preset: {sorted(unknown)}; use {sorted(PAPER_SETTINGS)}")
    out: dict[str, BaseDetector] = {}
    for name in ("realnvp", "iforest", "ocsvm", "autoencoder", "elliptic"):
        params: dict[str, Any] = {"window": window, **PAPER_SETTINGS[name]}
        det = make_detector(name, **params)
        if "random_state" in det.get_params():
            params["random_state"] = random_state
        out[name] = make_detector(name, **{**params, **overrides.get(name, {})})
    return out
