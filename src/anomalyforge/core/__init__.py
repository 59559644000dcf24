"""The contracts: base classes, registry, validation, windows, thresholds, persistence, budgets.

Imported one way only: nothing in core imports detectors, generators or apps.
"""
