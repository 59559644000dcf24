"""Normalizing-flow detectors (``realnvp``, ``maf``), the ``autoencoder`` baseline and the paper's preset.

See ../shared/papers/normalizing_flow_anomaly_detection.txt; ``paper_preset()`` builds the paper's set of
detectors with its settings (flow, isolation forest, one-class SVM, autoencoder, elliptic envelope).
"""

from anomalyforge.detectors.flows.autoencoder import DenseAutoencoder, WindowAutoencoder
from anomalyforge.detectors.flows.density import FlowDetector, MAFDetector, RealNVPDetector
from anomalyforge.detectors.flows.preset import PAPER_SETTINGS, paper_preset

__all__ = [
    "DenseAutoencoder",
    "FlowDetector",
    "MAFDetector",
    "PAPER_SETTINGS",
    "RealNVPDetector",
    "WindowAutoencoder",
    "paper_preset",
]
