"""TransDe: decomposition-based multi-scale patch transformer with patch-level contrastive views."""

from anomalyforge.detectors.transde.detector import TransDe
from anomalyforge.detectors.transde.model import TransDeNet

__all__ = ["TransDe", "TransDeNet"]
