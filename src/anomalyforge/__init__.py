"""anomalyforge: time-series anomaly detection toolkit.

The public API is imported lazily (torch and scikit-learn load only when first used)::

    import anomalyforge as af
    det = af.make_detector("iforest").fit(train)
    scores = det.anomaly_score(test)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "BaseDetector": "anomalyforge.core.base",
    "BaseGenerator": "anomalyforge.core.base",
    "Tags": "anomalyforge.core.base",
    "GeneratedAnomalies": "anomalyforge.core.base",
    "make_detector": "anomalyforge.core.registry",
    "make_generator": "anomalyforge.core.registry",
    "list_detectors": "anomalyforge.core.registry",
    "list_generators": "anomalyforge.core.registry",
    "DETECTORS": "anomalyforge.core.registry",
    "GENERATORS": "anomalyforge.core.registry",
    "load_model": "anomalyforge.core.persistence",
    "save_model": "anomalyforge.core.persistence",
    "Stream": "anomalyforge.core.stream",
    "StreamScores": "anomalyforge.core.stream",
    "AlertInterval": "anomalyforge.core.intervals",
    "flag_intervals": "anomalyforge.core.intervals",
    "load_series": "anomalyforge.datasets",
    "list_series": "anomalyforge.datasets",
    "evaluate": "anomalyforge.metrics",
    "run_benchmark": "anomalyforge.bench",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anomalyforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
