"""Benchmark suites: JSON files shipped with the package (``bench/suites/<name>.json``) or given by path.

A suite is a list of parts, each naming a dataset and optionally which of its series to take:

    {"dataset": "UCR", "ids": ["001", "011"]}          series whose name starts with these ids
    {"dataset": "SMD", "names": ["machine-1-2"]}       these series (short names)
    {"dataset": "NAB", "require_anomaly": true}        only series with at least one labelled anomaly
    {"dataset": "MSL", "limit": 4}                     the first 4 series (sorted)
    {"dataset": "*"}                                   every dataset found

A part whose dataset (or a named series) is absent under the data root is reported as missing, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from anomalyforge.datasets import DATASETS, describe_datasets, list_series, load_series

__all__ = ["Suite", "load_suite", "resolve_suite", "available_suites"]


@dataclass
class Suite:
    """A resolved suite: the series found and what was asked for but missing."""

    name: str
    description: str
    series: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def available_suites() -> list[str]:
    folder = resources.files("anomalyforge.bench") / "suites"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_suite(name_or_path: str) -> dict[str, Any]:
    """Read a suite definition by shipped name or JSON path."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        text = path.read_text()
    else:
        resource = resources.files("anomalyforge.bench") / "suites" / f"{name_or_path}.json"
        if not resource.is_file():
            raise ValueError(f"unknown suite {name_or_path!r}; shipped suites: {', '.join(available_suites())}")
        text = resource.read_text()
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"suite {name_or_path!r} is not valid JSON: {exc}") from exc
    if not isinstance(suite.get("parts"), list):
        raise ValueError(f"suite {name_or_path!r} has no 'parts' list")
    return suite


def _select(part: dict[str, Any], dataset: str, names: list[str], root: Any) -> tuple[list[str], list[str]]:
    missing: list[str] = []
    short = {n.split("/", 1)[1]: n for n in names}
    if "ids" in part:
        chosen = []
        for ident in part["ids"]:
            hits = [full for s, full in short.items() if s.startswith(f"{ident}_")]
            chosen.extend(hits) if hits else missing.append(f"{dataset}/{ident}")
        names = chosen
    if "names" in part:
        names = [short[s] for s in part["names"] if s in short]
        missing += [f"{dataset}/{s}" for s in part["names"] if s not in short]
    if part.get("require_anomaly"):
        names = [n for n in names if load_series(dataset, n, root).labels.any()]
    if "limit" in part:
        names = names[: int(part["limit"])]
    return names, missing


def resolve_suite(name_or_path: str, data_root: Any = None) -> Suite:
    """Expand a suite into the full series names found under ``data_root``."""
    spec = load_suite(name_or_path)
    suite = Suite(name=spec.get("name", str(name_or_path)), description=spec.get("description", ""))
    found = {name for name, _, _ in describe_datasets(data_root)}
    for part in spec["parts"]:
        dataset = part.get("dataset")
        targets = sorted(found - {"generic"}) if dataset == "*" else [dataset]
        for ds in targets:
            if ds not in DATASETS:
                raise ValueError(f"suite {suite.name!r} names unknown dataset {ds!r}; known: {sorted(DATASETS)}")
            if ds not in found:
                suite.missing.append(f"{ds} (not found under the data root)")
                continue
            chosen, missing = _select(part, ds, list_series(ds, data_root), data_root)
            suite.series += [s for s in chosen if s not in suite.series]
            suite.missing += missing
    return suite
