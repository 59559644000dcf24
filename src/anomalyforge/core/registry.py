"""Registries of detectors and generators: a static catalog read without imports, filled by decorators.

The catalog below maps each name to ``"module:Class"``, a one-line description and the registry defaults,
so listing the names (``anomalyforge detectors``) imports no model module, and ``make_detector(name)``
imports only the module that defines ``name`` (timm keeps such a map). That module's
``@DETECTORS.register(name, ...)`` decorator then records the class and its small ``test_params``;
``tests/test_registry.py`` checks that the catalog and the decorators agree both ways, so the catalog
cannot drift silently. Adding a model is one decorator and one catalog line (the test names a missing one).

A registered object's ``registry_name`` is not stored on it: it is derived from its class and its
parameters (see ``Registry.name_of``), so it survives ``sklearn.base.clone``, ``set_params`` and
save/load, and tells ``carla`` from ``genias_carla`` (one class, different registry defaults).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "DETECTORS",
    "GENERATORS",
    "Listing",
    "Registry",
    "make_detector",
    "make_generator",
    "list_detectors",
    "list_generators",
]

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class Listing:
    """One catalog line: where a registered class lives, what it is, and the defaults its name applies.

    Attributes:
        target: ``"package.module:Class"``; the module's decorator registers the name.
        description: one line for listings.
        defaults: parameters the name applies before the caller's (must equal the decorator's ``defaults``).
    """

    target: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]


@dataclass
class Entry:
    """One registered class with its description and the small parameters the common tests use."""

    name: str
    cls: type
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    test_params: dict[str, Any] = field(default_factory=dict)


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # e.g. arrays: never a registry default
        return False


class Registry:
    """A name -> class map: names come from a static catalog, classes from decorators on first use."""

    def __init__(self, kind: str, catalog: Mapping[str, Listing]) -> None:
        self.kind = kind
        self._catalog = dict(catalog)
        self._entries: dict[str, Entry] = {}

    @property
    def catalog(self) -> Mapping[str, Listing]:
        """The static catalog (read-only view): name -> ``Listing``."""
        return MappingProxyType(self._catalog)

    def register(
        self,
        name: str,
        *,
        description: str | None = None,
        defaults: dict[str, Any] | None = None,
        test_params: dict[str, Any] | None = None,
    ) -> Callable[[T], T]:
        """Class decorator registering ``cls`` under ``name``; the class itself is left unchanged.

        Args:
            name: the registry key (``make_detector(name)``); listed in the catalog for the package's own
                models (a class registered by user code needs no catalog line).
            description: one line for listings; defaults to the first line of the class docstring.
            defaults: parameters applied by ``make`` before the caller's (e.g. ``carla`` and ``genias_carla``
                share one class and differ in their generator); they also decide ``registry_name``.
            test_params: small parameters that make the common checks fast (tiny models, short windows).
        """

        def decorator(cls: T) -> T:
            if name in self._entries and self._entries[name].cls is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            fixed = dict(defaults or {})
            for other in self._entries.values():
                if other.cls is cls and other.name != name and other.defaults == fixed:
                    raise ValueError(
                        f"{self.kind}s {other.name!r} and {name!r} are the same class with the same defaults, so "
                        f"an instance could not tell which it is; give {name!r} defaults of its own"
                    )
            doc = (cls.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(
                name=name,
                cls=cls,
                description=description or (doc[0] if doc else ""),
                defaults=fixed,
                test_params=dict(test_params or {}),
            )
            return cls

        return decorator

    def entry(self, name: str) -> Entry:
        """The registered entry for ``name``, importing its module (and only it) if needed."""
        if name not in self._entries and name in self._catalog:
            module = self._catalog[name].module
            importlib.import_module(module)
            if name not in self._entries:
                raise RuntimeError(
                    f"the {self.kind} catalog places {name!r} in {module}, but importing it did not register "
                    f"{name!r}; fix the catalog in anomalyforge/core/registry.py or the module's decorator"
                )
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._entries[name]

    def make(self, name: str, **params: Any) -> Any:
        """Build ``name``: its class with the registry defaults, then ``params``."""
        entry = self.entry(name)
        return entry.cls(**{**entry.defaults, **params})

    def name_of(self, obj: Any) -> str | None:
        """The name ``obj`` answers to, from its class and current parameters (None: class not registered).

        Among the names registered for ``type(obj)``, the one whose defaults ``obj``'s parameters all match
        (the most specific one when several do): ``CARLA(generator="genias")`` is ``genias_carla`` however it
        was made. When none matches (``CARLA(generator="ncad")``), the name whose defaults the class's own
        constructor defaults match, else the first registered, so the object can still be saved and loaded.
        """
        candidates = [e for e in self._entries.values() if e.cls is type(obj)]
        if not candidates:
            return None
        params = obj.get_params(deep=False)
        matching = [e for e in candidates if all(k in params and _same(params[k], v) for k, v in e.defaults.items())]
        if matching:
            return max(matching, key=lambda e: len(e.defaults)).name
        signature = inspect.signature(type(obj))
        constructor = {k: p.default for k, p in signature.parameters.items() if p.default is not p.empty}
        for e in candidates:
            if all(k in constructor and _same(constructor[k], v) for k, v in e.defaults.items()):
                return e.name
        return candidates[0].name

    def names(self) -> list[str]:
        """Every name: the catalog's and any registered by user code (imports nothing)."""
        return sorted({*self._catalog, *self._entries})

    def describe(self) -> dict[str, str]:
        """Name -> one-line description (imports nothing)."""
        out = {name: entry.description for name, entry in self._entries.items()}
        out.update({name: listing.description for name, listing in self._catalog.items()})
        return {name: out[name] for name in sorted(out)}

    def __contains__(self, name: object) -> bool:
        return name in self._catalog or name in self._entries


_DETECTORS_CATALOG = {
    "auto": Listing(
        "anomalyforge.detectors.auto.detector:AutoDetector",
        "Classic detectors at the training period's windows, chosen and combined on anomalies forged in held-out "
        "training data.",
    ),
    "iforest": Listing(
        "anomalyforge.detectors.classic:WindowIForest",
        "Isolation forest on sliding windows (100 trees, contamination 0.05).",
    ),
    "ocsvm": Listing(
        "anomalyforge.detectors.classic:WindowOCSVM",
        "One-class SVM (RBF kernel, gamma 0.1, nu 0.05) on sliding windows.",
    ),
    "lof": Listing(
        "anomalyforge.detectors.classic:WindowLOF",
        "Local outlier factor (novelty mode) on sliding windows.",
    ),
    "elliptic": Listing(
        "anomalyforge.detectors.classic:WindowEllipticEnvelope",
        "Elliptic envelope (robust covariance, contamination 0.05) on sliding windows.",
    ),
    "pca": Listing(
        "anomalyforge.detectors.classic:WindowPCA",
        "PCA reconstruction error of sliding windows.",
    ),
    "knn": Listing(
        "anomalyforge.detectors.classic:WindowKNN",
        "Distance to the k-th nearest training window.",
    ),
    "urf": Listing(
        "anomalyforge.detectors.urf.detector:UnsupervisedRandomForest",
        "Unsupervised random forest (real vs uniform synthetic windows); proximity distance to reference windows.",
    ),
    "zscore": Listing(
        "anomalyforge.detectors.classic:ZScore",
        "Largest absolute per-channel z-score of each step against the training mean and deviation.",
    ),
    "autoencoder": Listing(
        "anomalyforge.detectors.flows.autoencoder:WindowAutoencoder",
        "Dense autoencoder (bottleneck 2, dropout, MSE) reconstruction error of standardised window vectors.",
    ),
    "realnvp": Listing(
        "anomalyforge.detectors.flows.density:RealNVPDetector",
        "RealNVP (affine coupling flow, zuko) negative log-likelihood of standardised window vectors.",
    ),
    "maf": Listing(
        "anomalyforge.detectors.flows.density:MAFDetector",
        "Masked autoregressive flow (zuko) negative log-likelihood of standardised window vectors.",
    ),
    "carla": Listing(
        "anomalyforge.detectors.carla.detector:CARLA",
        "CARLA as published: triplet pretext on rule-injected anomalies, SCAN stage 2, score 1 - P(majority class).",
        {"generator": "rules"},
    ),
    "genias_carla": Listing(
        "anomalyforge.detectors.carla.detector:CARLA",
        "GenIAS+CARLA as published: CARLA's two stages with GenIAS-generated negatives, score 1 - P(majority class).",
        {"generator": "genias"},
    ),
    "flow_carla": Listing(
        "anomalyforge.detectors.carla.detector:CARLA",
        "CARLA as published (two stages, score 1 - P(majority class)) with negatives from a MAF's low-likelihood "
        "region.",
        {"generator": "flow"},
    ),
    "carla_knn": Listing(
        "anomalyforge.detectors.carla.knn_detector:CarlaKNN",
        "CARLA's stage-1 backbone (rule-injected negatives) with a kNN score on its features plus window "
        "statistics (not the published stage-2 score).",
        {"generator": "rules"},
    ),
    "genias_carla_knn": Listing(
        "anomalyforge.detectors.carla.knn_detector:CarlaKNN",
        "CARLA's stage-1 backbone trained on GenIAS negatives, with a kNN score on its features plus window "
        "statistics (not the published stage-2 score).",
        {"generator": "genias"},
    ),
    "flow_carla_knn": Listing(
        "anomalyforge.detectors.carla.knn_detector:CarlaKNN",
        "CARLA's stage-1 backbone trained on flow-sampled negatives, with a kNN score on its features plus window "
        "statistics (not the published stage-2 score).",
        {"generator": "flow"},
    ),
    "rules_classifier": Listing(
        "anomalyforge.detectors.classifier.detector:ForgedWindowClassifier",
        "Window classifier trained on normal vs rule-injected windows (forged fresh each epoch); score = log-odds "
        "of P(anomaly).",
        {"generator": "rules"},
    ),
    "genias_classifier": Listing(
        "anomalyforge.detectors.classifier.detector:ForgedWindowClassifier",
        "Window classifier trained on normal vs GenIAS-forged windows (forged fresh each epoch); score = log-odds "
        "of P(anomaly).",
        {"generator": "genias"},
    ),
    "genias_rules_classifier": Listing(
        "anomalyforge.detectors.classifier.detector:ForgedWindowClassifier",
        "Window classifier trained on normal vs forged windows, each forged by GenIAS or by the rules (drawn "
        "uniformly, fresh each epoch); score = log-odds of P(anomaly).",
        {"generator": "genias+rules"},
    ),
    "copula": Listing(
        "anomalyforge.detectors.copula.detector:CopulaDetector",
        "Transformer latents + marginal mixtures + Gaussian/Student-t copula, trained contrastively.",
    ),
    "m2ad": Listing(
        "anomalyforge.detectors.m2ad.detector:M2AD",
        "Per-sensor LSTM forecasting residuals -> Gaussian-mixture p-values -> Fisher -> Gamma calibration.",
    ),
    "dconad": Listing(
        "anomalyforge.detectors.dconad.detector:DConAD",
        "DConAD: raw + differenced window views, spatio-temporal transformer, positive-pair KL contrast; score = "
        "per-step KL discrepancy of the two views.",
    ),
    "transde": Listing(
        "anomalyforge.detectors.transde.detector:TransDe",
        "TransDe: HP-filter trend/cyclical parts, multi-scale patch-wise vs in-patch attention views, asynchronous "
        "KL loss; score = per-step KL discrepancy of the views.",
    ),
    "vanad": Listing(
        "anomalyforge.detectors.vanad.detector:VanAD",
        "VAN-AD: checkerboard-masked MAE reconstruction of series images + ADMM + a MAF density term.",
    ),
}

_GENERATORS_CATALOG = {
    "seasonal": Listing(
        "anomalyforge.generators.rules:SeasonalAnomaly",
        "CARLA seasonal anomaly: a segment of some channels resampled k times faster (k in ``compression``).",
    ),
    "trend": Listing(
        "anomalyforge.generators.rules:TrendAnomaly",
        "CARLA trend anomaly: +-|N(mean, std)| channel scales added from a segment start to the window end.",
    ),
    "global": Listing(
        "anomalyforge.generators.rules:GlobalAnomaly",
        "CARLA global anomaly: ``n_points`` consecutive steps pushed ``factor`` (8) x further from the channel mean.",
    ),
    "contextual": Listing(
        "anomalyforge.generators.rules:ContextualAnomaly",
        "CARLA contextual anomaly: ``n_points`` (5) consecutive steps pushed ``factor`` (3) x further from the mean.",
    ),
    "shapelet": Listing(
        "anomalyforge.generators.rules:ShapeletAnomaly",
        "CARLA shapelet anomaly: a segment flattened to its first value plus U(0, ``noise``) channel scales.",
    ),
    "rules": Listing(
        "anomalyforge.generators.rules:CarlaRules",
        "CARLA's injection: each window gets one of the five types (``types``), chosen uniformly at random.",
    ),
    "cutaddpaste": Listing(
        "anomalyforge.generators.mixing:CutAddPaste",
        "CutAddPaste (Wang et al., KDD 2024): cut a segment from a batch window, add a linear trend, paste it.",
    ),
    "ncad": Listing(
        "anomalyforge.generators.mixing:NCADInjection",
        "NCAD-style synthetic anomalies (Carmona et al., 2021): contextual outlier exposure or point outliers.",
    ),
    "genias": Listing(
        "anomalyforge.generators.genias.generator:GenIASGenerator",
        "GenIAS: learned latent-perturbation anomalies from a TCN-VAE (Darban et al.).",
    ),
    "flow": Listing(
        "anomalyforge.generators.flow:FlowPatchGenerator",
        "Patches sampled from a MAF's low-likelihood region (tempered and/or rejection), pasted into windows.",
    ),
}

DETECTORS = Registry("detector", _DETECTORS_CATALOG)
GENERATORS = Registry("generator", _GENERATORS_CATALOG)


def make_detector(name: str, **params: Any) -> Any:
    """Build the detector registered as ``name`` with these parameters (imports only its module)."""
    return DETECTORS.make(name, **params)


def make_generator(name: str, **params: Any) -> Any:
    """Build the generator registered as ``name`` with these parameters (imports only its module)."""
    return GENERATORS.make(name, **params)


def list_detectors() -> dict[str, str]:
    """Detector names with one-line descriptions (imports no detector module)."""
    return DETECTORS.describe()


def list_generators() -> dict[str, str]:
    """Generator names with one-line descriptions (imports no generator module)."""
    return GENERATORS.describe()
