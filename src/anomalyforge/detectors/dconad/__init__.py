"""DConAD: differencing-based contrastive representation learning (raw and differenced window views)."""

from anomalyforge.detectors.dconad.detector import DConAD
from anomalyforge.detectors.dconad.model import DConADNet

__all__ = ["DConAD", "DConADNet"]
