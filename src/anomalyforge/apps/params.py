"""``--param K=V`` parsing for the command line: text to values, checked against the model's constructor.

Values are read as JSON (numbers, ``true``/``false``, ``null``, lists, objects), else kept as text. The
keys are checked against the registered class's constructor (an unknown one lists the valid ones) and the
values against its type annotations and declared constraints (a wrong one names the parameter and what it
takes), so a typo fails before anything is loaded or fitted, in the terms the user typed.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from anomalyforge.core.registry import DETECTORS, GENERATORS, Registry
from anomalyforge.core.validation import validate_params

__all__ = ["parse_params", "check_params", "detector_params", "generator_params", "bench_params"]


def _split(pair: str, flag: str, form: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{flag} expects {form}, got {pair!r}")
    return key.strip(), value


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(pairs: Sequence[str] | None, flag: str = "--param") -> dict[str, Any]:
    """Parse ``k=v`` strings; values are read as JSON (numbers, true/false, null, lists) else kept as text."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, text = _split(pair, flag, "key=value")
        params[key] = _value(text)
    return params


def _accepts(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` fits the annotation ``hint``; None when the annotation is beyond this check."""
    if hint is Any or hint is object:
        return True
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        answers = [_accepts(h, value) for h in get_args(hint)]
        return True if any(answers) else (None if None in answers else False)
    if origin is Literal:
        return value in get_args(hint)
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    container = origin or hint
    if container in (list, tuple, Sequence, typing.Sequence):
        return isinstance(value, list)
    if container in (dict, Mapping, typing.Mapping):
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return None


def check_params(registry: Registry, name: str, params: Mapping[str, Any], *, texts: Mapping[str, str] | None = None,
                 flag: str = "--param", prefix: str = "") -> dict[str, Any]:
    """Check parsed parameters against the constructor of the class registered as ``name``.

    Args:
        registry: ``DETECTORS`` or ``GENERATORS``.
        name: the registered name (an unknown one raises ``KeyError`` listing the available names).
        params: parsed values by parameter name.
        texts: the text each value was typed as; a value a ``str`` parameter rejects as JSON is kept as text.
        flag, prefix: how the user wrote the option (``--param``, ``knn.``), for the messages.

    Returns:
        the values, with text kept where a parameter takes text.

    Raises:
        ValueError: an unknown parameter (the message lists the valid ones) or a value of the wrong type
            (the message names the parameter and what it takes).
    """
    cls = registry.entry(name).cls
    signature = inspect.signature(cls)
    valid = [k for k, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve here: check the names only
        hints = {}
    checked: dict[str, Any] = {}
    for key, value in params.items():
        typed = f"{flag} {prefix}{key}={texts[key] if texts and key in texts else json.dumps(value, default=repr)}"
        if key not in valid:
            raise ValueError(f"{typed}: {registry.kind} {name!r} has no parameter {key!r}; "
                             f"valid parameters: {', '.join(valid)}")
        hint = hints.get(key, Any)
        if _accepts(hint, value) is False:
            text = texts.get(key) if texts else None
            if text is not None and _accepts(hint, text):
                value = text  # e.g. a name that looks like a number
            else:
                wanted = signature.parameters[key].annotation
                wanted = wanted if isinstance(wanted, str) else getattr(wanted, "__name__", str(wanted))
                raise ValueError(f"{typed}: {key} takes {wanted}, got {value!r}")
        _check_declared(cls, key, value, typed)
        checked[key] = value
    return checked


def _check_declared(cls: type, key: str, value: Any, typed: str) -> None:
    """The class's declared constraint on ``key`` (a range, a set of options), reported as the user typed it."""
    constraints: dict[str, list[Any]] = {}
    for klass in reversed(cls.__mro__):
        constraints.update(klass.__dict__.get("_parameter_constraints", {}))
    if key not in constraints:
        return
    try:
        validate_params(cls.__name__, {key: value}, {key: constraints[key]})
    except ValueError as exc:
        expected = str(exc).partition("; expected ")[2] or str(exc)
        raise ValueError(f"{typed}: {key} takes {expected}, got {value!r}") from None


def _parse_checked(registry: Registry, name: str, pairs: Sequence[str] | None, flag: str) -> dict[str, Any]:
    texts = dict(_split(pair, flag, "key=value") for pair in pairs or [])
    return check_params(registry, name, {k: _value(v) for k, v in texts.items()}, texts=texts, flag=flag)


def detector_params(name: str, pairs: Sequence[str] | None, flag: str = "--param") -> dict[str, Any]:
    """Parse and check ``K=V`` strings for the detector registered as ``name``."""
    return _parse_checked(DETECTORS, name, pairs, flag)


def generator_params(name: str, pairs: Sequence[str] | None, flag: str = "--param") -> dict[str, Any]:
    """Parse and check ``K=V`` strings for the generator registered as ``name``."""
    return _parse_checked(GENERATORS, name, pairs, flag)


def bench_params(pairs: Sequence[str] | None, detectors: Sequence[str], flag: str = "--param") -> dict[str, dict]:
    """Parse and check ``DETECTOR.K=V`` strings into ``{detector: {param: value}}`` for ``detectors``."""
    texts: dict[str, dict[str, str]] = {}
    for pair in pairs or []:
        key, text = _split(pair, flag, "DETECTOR.KEY=VALUE")
        name, dot, param = key.partition(".")
        if not dot or not name or not param:
            raise ValueError(f"{flag} expects DETECTOR.KEY=VALUE, got {pair!r}")
        if name not in detectors:
            raise ValueError(f"{flag} {pair}: {name!r} is not among --detectors {', '.join(detectors)}")
        texts.setdefault(name, {})[param] = text
    return {
        name: check_params(DETECTORS, name, {k: _value(v) for k, v in values.items()}, texts=values, flag=flag,
                           prefix=f"{name}.")
        for name, values in texts.items()
    }
