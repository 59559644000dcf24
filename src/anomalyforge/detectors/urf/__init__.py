"""Unsupervised random forest similarity: a forest telling real windows from uniform synthetic ones."""

from anomalyforge.detectors.urf.detector import UnsupervisedRandomForest

__all__ = ["UnsupervisedRandomForest"]
