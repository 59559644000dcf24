"""CARLA: self-supervised contrastive anomaly detection with negatives from any registered generator.

``CARLA`` is the published method, registered as ``carla`` (CARLA's rule-based injection), ``genias_carla``
(GenIAS negatives) and ``flow_carla`` (flow-sampled negatives). ``CarlaKNN`` keeps CARLA's stage 1 and scores
windows by kNN on backbone features and window statistics: ``carla_knn``, ``genias_carla_knn``,
``flow_carla_knn``.
"""

from anomalyforge.detectors.carla.detector import CARLA
from anomalyforge.detectors.carla.knn_detector import CarlaKNN, window_stats
from anomalyforge.detectors.carla.model import CarlaNet, ResNetBackbone1d, scan_loss, triplet_loss

__all__ = ["CARLA", "CarlaKNN", "CarlaNet", "ResNetBackbone1d", "scan_loss", "triplet_loss", "window_stats"]
