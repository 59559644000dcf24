"""VAN-AD: a visual masked autoencoder with adaptive distribution mapping and a normalizing flow."""

from anomalyforge.detectors.vanad.detector import VanAD

__all__ = ["VanAD"]
