"""Window classifiers trained on normal windows against forged ones (the NCAD / COUTA family).

``ForgedWindowClassifier`` is registered as ``rules_classifier`` (rule-injected forgeries) and
``genias_classifier`` (GenIAS forgeries).
"""

from anomalyforge.detectors.classifier.detector import ForgedWindowClassifier
from anomalyforge.detectors.classifier.model import WindowClassifierNet, bce_loss

__all__ = ["ForgedWindowClassifier", "WindowClassifierNet", "bce_loss"]
