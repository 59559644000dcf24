"""Copula detector (Beyond Marginals): transformer latents, marginal mixtures, Gaussian/Student-t copula."""

from anomalyforge.detectors.copula.detector import CopulaDetector

__all__ = ["CopulaDetector"]
