"""M2AD: forecasting residuals -> per-sensor Gaussian mixtures -> Fisher combination -> Gamma calibration."""

from anomalyforge.detectors.m2ad.detector import M2AD

__all__ = ["M2AD"]
