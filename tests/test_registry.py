"""The registry: a lazy catalog that agrees with the decorators, and a registry identity that survives clone."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import clone

import anomalyforge
from anomalyforge.core.registry import DETECTORS, GENERATORS, Listing, Registry, make_detector

SRC = Path(anomalyforge.__file__).resolve().parents[1]
HEAVY = ("torch", "zuko")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which heavy and which model modules it imported."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "mods = sorted(sys.modules)\n"
        f"print('\\nPROBE', json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules], "
        "'models': [m for m in mods if m.startswith(('anomalyforge.detectors.', 'anomalyforge.generators.'))]}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.rsplit("PROBE ", 1)[1])


def _cli(argv: list[str]) -> str:
    return f"from anomalyforge.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


@pytest.mark.parametrize("argv", [["--help"], ["detectors"], ["generators"]])
def test_listing_and_help_import_no_model_module(argv):
    loaded = _modules_after(_cli(argv))
    assert loaded == {"heavy": [], "models": []}


def test_make_iforest_and_fit_import_neither_torch_nor_zuko():
    loaded = _modules_after(
        "import numpy as np\n"
        "from anomalyforge import make_detector\n"
        "det = make_detector('iforest', window=8, n_estimators=10)\n"
        "x = np.sin(np.arange(300) / 5.0)[:, None]\n"
        "assert det.fit(x).anomaly_score(x).shape == (300,)\n"
        "assert det.registry_name == 'iforest'"
    )
    assert loaded["heavy"] == []
    assert loaded["models"] == ["anomalyforge.detectors.classic"]


# ------------------------------------------------------------------------------------ catalog agreement
def _import_every_model_module() -> None:
    for package in ("anomalyforge.detectors", "anomalyforge.generators"):
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            importlib.import_module(info.name)


@pytest.mark.parametrize("registry", [DETECTORS, GENERATORS], ids=lambda r: r.kind)
def test_every_registered_class_is_in_the_catalog_as_registered(registry):
    _import_every_model_module()
    ours = {n: e for n, e in registry._entries.items() if e.cls.__module__.startswith("anomalyforge.")}
    assert ours
    for name, entry in ours.items():
        assert name in registry.catalog, f"{registry.kind} {name!r} is registered but missing from the catalog"
        listing = registry.catalog[name]
        assert listing.target == f"{entry.cls.__module__}:{entry.cls.__qualname__}", name
        assert dict(listing.defaults) == entry.defaults, f"{name}: catalog and decorator defaults differ"
        assert listing.description, f"{name}: the catalog line has no description"


@pytest.mark.parametrize("registry", [DETECTORS, GENERATORS], ids=lambda r: r.kind)
def test_every_catalog_entry_is_registered_by_its_module(registry):
    for name, listing in registry.catalog.items():
        entry = registry.entry(name)  # imports listing.module, raises if it did not register name
        assert entry.cls is getattr(importlib.import_module(listing.module), listing.class_name), name


def test_a_catalog_line_whose_module_does_not_register_it_fails_clearly():
    registry = Registry("detector", {"ghost": Listing("json:JSONDecoder", "not registered anywhere")})
    assert "ghost" in registry and registry.describe() == {"ghost": "not registered anywhere"}
    with pytest.raises(RuntimeError, match="did not register 'ghost'"):
        registry.entry("ghost")


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(KeyError, match="unknown detector 'nope'; available: .*iforest"):
        make_detector("nope")


def test_user_registered_class_needs_no_catalog_line_and_twin_defaults_are_refused():
    registry = Registry("detector", {})

    @registry.register("mine", defaults={"a": 1})
    class Mine(anomalyforge.BaseDetector):
        """My detector."""

        def __init__(self, a: int = 0) -> None:
            self.a = a

    assert registry.names() == ["mine"] and registry.describe() == {"mine": "My detector."}
    with pytest.raises(ValueError, match="same class with the same defaults"):
        registry.register("mine_again", defaults={"a": 1})(Mine)


# --------------------------------------------------------------------------------- registry identity
def _round_trips(obj, tmp_path):
    yield "made", obj
    yield "clone", clone(obj)
    yield "get_params", type(obj)(**obj.get_params(deep=False))
    yield "set_params", clone(obj).set_params(**obj.get_params(deep=False))
    yield "save/load", anomalyforge.load_model(anomalyforge.save_model(obj, tmp_path / "m"))


@pytest.mark.parametrize("registry", [DETECTORS, GENERATORS], ids=lambda r: r.kind)
def test_registry_name_survives_clone_params_and_save_load(registry, tmp_path):
    for name in registry.names():
        obj = registry.make(name, **registry.entry(name).test_params)
        assert "registry_name" not in vars(obj) and "registry_name" not in vars(type(obj)), name
        for how, copy in _round_trips(obj, tmp_path):
            assert copy.registry_name == name, f"{name} after {how} answers {copy.registry_name!r}"


def test_one_class_with_three_names_tells_them_apart():
    carla = make_detector("carla")
    assert type(carla) is type(make_detector("genias_carla")) is type(make_detector("flow_carla"))
    assert [clone(make_detector(n)).registry_name for n in ("carla", "genias_carla", "flow_carla")] == [
        "carla", "genias_carla", "flow_carla"]
    # the name follows what runs, however the object was made
    assert type(carla)(generator="genias").registry_name == "genias_carla"
    assert clone(carla).set_params(generator="flow").registry_name == "flow_carla"
    assert make_detector("genias_carla", generator="rules").registry_name == "carla"
    # a generator no name stands for falls back to the class's own default name, so it still saves
    assert carla.set_params(generator="ncad").registry_name == "carla"


def test_unregistered_subclass_has_no_registry_name():
    cls = type(make_detector("zscore"))
    sub = type("Sub", (cls,), {})
    assert sub().registry_name is None
    with pytest.raises(ValueError, match="not registered"):
        anomalyforge.save_model(sub(), "unused")
