"""Window classifiers trained on normal windows against forged ones (the NCAD / COUTA family).

``ForgedWindowClassifier`` is registered as ``rules_classifier`` (rule-injected forgeries),
``genias_classifier`` (GenIAS forgeries) and ``genias_rules_classifier`` (each window forged by one of the two).
"""

from anomalyforge.detectors.classifier.detector import ForgedWindowClassifier
from anomalyforge.detectors.classifier.model import WindowClassifierNet, bce_loss

__all__ = ["ForgedWindowClassifier", "WindowClassifierNet", "bce_loss"]
