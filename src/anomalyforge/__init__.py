"""anomalyforge: time-series anomaly detection toolkit."""

__version__ = "0.1.0"
