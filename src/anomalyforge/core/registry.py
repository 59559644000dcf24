"""Registries of detectors and generators, filled by decorators (timm style).

Every module below ``anomalyforge.detectors`` and ``anomalyforge.generators`` is imported the first time a
registry is read, so registering a new model is one decorator and no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "DETECTORS",
    "GENERATORS",
    "Registry",
    "make_detector",
    "make_generator",
    "list_detectors",
    "list_generators",
]

T = TypeVar("T", bound=type)


@dataclass
class Entry:
    """One registered class with its description and the small parameters the common tests use."""

    name: str
    cls: type
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    test_params: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A name -> class map that imports the modules of ``package`` on first use."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(
        self,
        name: str,
        *,
        description: str | None = None,
        defaults: dict[str, Any] | None = None,
        test_params: dict[str, Any] | None = None,
    ) -> Callable[[T], T]:
        """Class decorator registering ``cls`` under ``name``.

        Args:
            name: the registry key (``make_detector(name)``).
            description: one line for listings; defaults to the first line of the class docstring.
            defaults: parameters applied by ``make`` before the caller's (e.g. ``carla`` and ``genias_carla``
                share one class and differ in their generator).
            test_params: small parameters that make the common checks fast (tiny models, short windows).
        """

        def decorator(cls: T) -> T:
            if name in self._entries and self._entries[name].cls is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = (cls.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(
                name=name,
                cls=cls,
                description=description or (doc[0] if doc else ""),
                defaults=dict(defaults or {}),
                test_params=dict(test_params or {}),
            )
            if getattr(cls, "registry_name", None) is None:
                cls.registry_name = name  # type: ignore[attr-defined]
            return cls

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{self.package}."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)

    def entry(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def make(self, name: str, **params: Any) -> Any:
        entry = self.entry(name)
        obj = entry.cls(**{**entry.defaults, **params})
        obj.registry_name = name
        return obj

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        self._load()
        return {name: self._entries[name].description for name in sorted(self._entries)}

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries


DETECTORS = Registry("detector", "anomalyforge.detectors")
GENERATORS = Registry("generator", "anomalyforge.generators")


def make_detector(name: str, **params: Any) -> Any:
    """Build the detector registered as ``name`` with these parameters."""
    return DETECTORS.make(name, **params)


def make_generator(name: str, **params: Any) -> Any:
    """Build the generator registered as ``name`` with these parameters."""
    return GENERATORS.make(name, **params)


def list_detectors() -> dict[str, str]:
    """Registered detector names with one-line descriptions."""
    return DETECTORS.describe()


def list_generators() -> dict[str, str]:
    """Registered generator names with one-line descriptions."""
    return GENERATORS.describe()
