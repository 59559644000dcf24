"""Normalizing-flow detectors (``realnvp``, ``maf``), the ``autoencoder`` baseline and the paper's preset.

See ../shared/papers/normalizing_flow_anomaly_detection.txt; ``paper_preset()`` builds the paper's set of
detectors with its settings.
"""

from anomalyforge.detectors.flows.density import FlowDetector, MAFDetector, RealNVPDetector, build_flow

__all__ = ["FlowDetector", "MAFDetector", "RealNVPDetector", "build_flow"]
