"""CARLA: self-supervised contrastive anomaly detection with negatives from any registered generator.

Registered as ``carla`` (CARLA's rule-based injection), ``genias_carla`` (GenIAS negatives) and ``flow_carla``
(flow-sampled negatives): one class, three registry defaults.
"""

from anomalyforge.detectors.carla.backbone import CarlaNet, ResNetBackbone1d
from anomalyforge.detectors.carla.detector import CARLA
from anomalyforge.detectors.carla.mining import mine_neighbours

__all__ = ["CARLA", "CarlaNet", "ResNetBackbone1d", "mine_neighbours"]
