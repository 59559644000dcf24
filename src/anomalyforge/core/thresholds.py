"""Thresholds that turn anomaly scores into 0/1 predictions, fitted on training scores only.

A detector's ``threshold`` parameter takes ``None`` (use ``contamination``), a float (a fixed score), the
name of a registered rule (``"contamination"``, ``"gamma"``) or a threshold object. Threshold objects are
small and JSON-describable (``to_config`` / ``threshold_from_config``) so that a saved detector keeps them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import stats

__all__ = [
    "BaseThreshold",
    "ContaminationThreshold",
    "FixedThreshold",
    "GammaThreshold",
    "exponential_tail_threshold",
    "make_threshold",
    "threshold_from_config",
]

_THRESHOLDS: dict[str, type[BaseThreshold]] = {}


class BaseThreshold:
    """A rule that maps training scores to one score threshold."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _THRESHOLDS[cls.name] = cls

    def fit(self, train_scores: np.ndarray) -> float:
        """Return the threshold for these (n,) training scores."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return dict(vars(self))

    def to_config(self) -> dict[str, Any]:
        return {"rule": self.name, **self.params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[union-attr]


class ContaminationThreshold(BaseThreshold):
    """Flag the top ``contamination`` fraction of the training scores (a quantile, made robust to ties).

    Without ties this is the ``1 - contamination`` quantile. Tied scores make some flag rates unreachable
    (a windowed detector with the max mapping gives every step of the top window the same score, so the
    top ``window`` steps tie); the quantile may then equal the largest score and ``score > threshold``
    flag nothing. The threshold is then the distinct training score whose flag rate
    ``mean(train_scores > t)`` is closest to ``contamination`` in ratio (never a rate of 0 when a
    non-zero rate is reachable); the scores themselves are not changed.
    """

    name = "contamination"

    def __init__(self, contamination: float = 0.01) -> None:
        if not 0.0 < contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {contamination}")
        self.contamination = float(contamination)

    def fit(self, train_scores: np.ndarray) -> float:
        scores = np.asarray(train_scores, dtype=np.float64).ravel()
        quantile = float(np.quantile(scores, 1.0 - self.contamination))
        cuts, counts = np.unique(scores, return_counts=True)
        # flag rate of each cut t = cuts[k]: the share of scores strictly above it
        rates = (scores.size - np.cumsum(counts)) / scores.size
        if not (rates > 0).any():  # constant scores: nothing can be flagged
            return quantile
        with np.errstate(divide="ignore"):
            distance = np.abs(np.log(rates / self.contamination))  # rate 0 -> inf, never chosen
        best = int(np.argmin(distance))
        quantile_rate = float(np.mean(scores > quantile))
        if quantile_rate > 0 and abs(np.log(quantile_rate / self.contamination)) <= distance[best]:
            return quantile  # no harmful ties: the plain quantile
        return float(cuts[best])


def exponential_tail_threshold(scores: np.ndarray, rate: float) -> float | None:
    """The score flagging ``rate`` of the distribution behind ``scores``, read from an exponential tail fitted
    above their 90 % quantile ``u`` (peaks over threshold, shape 0): ``u + beta log(0.1 / rate)`` with
    ``beta`` the mean excess over ``u``. For samples too small for the plain ``1 - rate`` quantile to rest on
    ten scores (a short held-out stretch); None when ``rate >= 0.1`` or the top tenth has no spread."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not 0.0 < rate < 0.1 or s.size < 10:
        return None
    u = float(np.quantile(s, 0.9))
    excess = s[s > u] - u
    if excess.size == 0 or float(excess.mean()) <= 0.0:
        return None
    return u + float(excess.mean()) * float(np.log(0.1 / rate))


class FixedThreshold(BaseThreshold):
    """A threshold given by the user, in score units."""

    name = "fixed"

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def fit(self, train_scores: np.ndarray) -> float:
        return self.value


class GammaThreshold(BaseThreshold):
    """Calibrated threshold: fit a Gamma distribution to the training scores (method of moments) and flag
    scores whose upper-tail p-value is below ``p_value`` (M2AD's calibration; 0.001 by default).

    Scores are shifted so that the smallest training score is 0 before the fit (Gamma lives on [0, inf)).
    """

    name = "gamma"

    def __init__(self, p_value: float = 0.001) -> None:
        if not 0.0 < p_value < 1.0:
            raise ValueError(f"p_value must be in (0, 1), got {p_value}")
        self.p_value = float(p_value)

    def fit(self, train_scores: np.ndarray) -> float:
        scores = np.asarray(train_scores, dtype=np.float64)
        low = float(scores.min())
        shifted = scores - low
        mean, var = float(shifted.mean()), float(shifted.var())
        if mean <= 0 or var <= 0:  # constant training scores: anything above them is anomalous
            return float(scores.max())
        shape, scale = mean**2 / var, var / mean
        return low + float(stats.gamma.isf(self.p_value, shape, scale=scale))


def make_threshold(spec: Any, contamination: float = 0.01) -> BaseThreshold:
    """Build a threshold object from a detector's ``threshold`` parameter."""
    if spec is None:
        return ContaminationThreshold(contamination)
    if isinstance(spec, BaseThreshold):
        return spec
    if isinstance(spec, bool):
        raise TypeError("threshold must be None, a float, a rule name or a threshold object, not a bool")
    if isinstance(spec, int | float):
        return FixedThreshold(float(spec))
    if isinstance(spec, str):
        if spec == "contamination":
            return ContaminationThreshold(contamination)
        if spec in _THRESHOLDS and spec != "fixed":
            return _THRESHOLDS[spec]()
        raise ValueError(f"unknown threshold rule {spec!r}; choose one of {sorted(_THRESHOLDS)} or a float")
    raise TypeError(f"threshold must be None, a float, a rule name or a threshold object, got {type(spec)}")


def threshold_from_config(config: dict[str, Any]) -> BaseThreshold:
    """Rebuild a threshold object written by ``BaseThreshold.to_config``."""
    config = dict(config)
    rule = config.pop("rule", None)
    if rule not in _THRESHOLDS:
        raise ValueError(f"unknown threshold rule {rule!r} in saved configuration")
    return _THRESHOLDS[rule](**config)
