"""Save and load detectors and generators: one ``.safetensors`` file, never pickle.

The file's header metadata holds a JSON configuration (format version, package version, registry name,
constructor parameters, JSON-able fitted attributes) and a SHA-256 digest of that configuration and of
every stored array. Arrays, torch ``state_dict`` tensors and fitted scikit-learn objects (as ``skops.io``
bytes, loaded with an explicit list of trusted modules) are the file's tensors. Loading checks the format,
the package version and the digest, so a file from another version or an edited file fails with a clear
error instead of giving wrong scores.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.base import BaseEstimator

import anomalyforge
from anomalyforge.core.thresholds import BaseThreshold, threshold_from_config

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


def _is_ours(obj: Any) -> bool:
    from anomalyforge.core.base import BaseDetector, BaseGenerator

    return isinstance(obj, BaseDetector | BaseGenerator)


# ----------------------------------------------------------------------------------------- parameters
def _encode_param(value: Any) -> Any:
    if isinstance(value, BaseThreshold):
        return {"__threshold__": value.to_config()}
    if _is_ours(value):
        return {"__estimator__": _describe(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):  # tagged, so that load gives back a tuple (JSON has only lists)
        return {"__tuple__": [_encode_param(v) for v in value]}
    if isinstance(value, list):
        return [_encode_param(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_param(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} cannot be saved as JSON")


def _decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        if "__threshold__" in value:
            return threshold_from_config(value["__threshold__"])
        if "__estimator__" in value:
            return _instantiate(value["__estimator__"])
        if "__tuple__" in value:
            return tuple(_decode_param(v) for v in value["__tuple__"])
        return {k: _decode_param(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_param(v) for v in value]
    return value


def _describe(obj: Any) -> dict[str, Any]:
    from anomalyforge.core.base import BaseDetector

    kind = "detector" if isinstance(obj, BaseDetector) else "generator"
    name = getattr(obj, "registry_name", None)
    if name is None:
        raise ValueError(f"{type(obj).__name__} is not registered; only registered models can be saved")
    params = {k: _encode_param(v) for k, v in obj.get_params(deep=False).items()}
    return {"kind": kind, "name": name, "params": params}


def _instantiate(desc: dict[str, Any]) -> Any:
    from anomalyforge.core.registry import DETECTORS, GENERATORS

    registry = DETECTORS if desc["kind"] == "detector" else GENERATORS
    entry = registry.entry(desc["name"])
    return entry.cls(**{k: _decode_param(v) for k, v in desc["params"].items()})


# -------------------------------------------------------------------------------------- fitted state
def _encode_state(obj: Any, prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    import skops.io
    import torch

    state: dict[str, Any] = {}
    for attr, value in vars(obj).items():
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        key = f"{prefix}{attr}"
        if isinstance(value, torch.nn.Module):
            for name, tensor in value.state_dict().items():
                tensors[f"{key}.{name}"] = tensor.detach().cpu().contiguous().numpy()
            state[attr] = {"__torch__": True}
        elif isinstance(value, torch.Tensor):
            tensors[key] = value.detach().cpu().contiguous().numpy()
            state[attr] = {"__array__": "torch"}
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"fitted attribute {attr} is an object array and cannot be saved")
            tensors[key] = np.ascontiguousarray(value)
            state[attr] = {"__array__": "numpy"}
        elif _is_ours(value):
            state[attr] = {"__nested__": _describe(value), "state": _encode_state(value, f"{key}/", tensors)}
        elif isinstance(value, BaseEstimator):
            tensors[key] = np.frombuffer(skops.io.dumps(value), dtype=np.uint8).copy()
            state[attr] = {"__skops__": True}
        elif isinstance(value, BaseThreshold):
            state[attr] = {"__threshold__": value.to_config()}
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            for i, v in enumerate(value):
                tensors[f"{key}#{i}"] = np.ascontiguousarray(v)
            state[attr] = {"__array_list__": len(value)}
        else:
            try:
                state[attr] = json.loads(json.dumps(_encode_param(value)))
            except TypeError as exc:
                raise TypeError(f"fitted attribute {attr} of {type(obj).__name__} cannot be saved: {exc}") from exc
    return state


def _load_skops(data: bytes, where: str) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_MODULE_PREFIXES)]
    if refused:
        raise ValueError(f"{where} contains types that are not trusted: {refused}; refusing to load it")
    return skops.io.loads(data, trusted=untrusted)


def _decode_state(obj: Any, state: dict[str, Any], prefix: str, tensors: dict[str, np.ndarray]) -> None:
    import torch

    modules = []
    for attr, value in state.items():
        key = f"{prefix}{attr}"
        if isinstance(value, dict) and "__torch__" in value:
            modules.append(attr)
        elif isinstance(value, dict) and "__array__" in value:
            arr = tensors[key]
            setattr(obj, attr, torch.from_numpy(arr.copy()) if value["__array__"] == "torch" else arr)
        elif isinstance(value, dict) and "__nested__" in value:
            nested = _instantiate(value["__nested__"])
            _decode_state(nested, value["state"], f"{key}/", tensors)
            setattr(obj, attr, nested)
        elif isinstance(value, dict) and "__skops__" in value:
            setattr(obj, attr, _load_skops(tensors[key].tobytes(), key))
        elif isinstance(value, dict) and "__threshold__" in value:
            setattr(obj, attr, threshold_from_config(value["__threshold__"]))
        elif isinstance(value, dict) and "__array_list__" in value:
            setattr(obj, attr, [tensors[f"{key}#{i}"] for i in range(value["__array_list__"])])
        else:
            setattr(obj, attr, _decode_param(value))
    if modules:
        obj._build_modules()
        for attr in modules:
            module = getattr(obj, attr, None)
            if not isinstance(module, torch.nn.Module):
                raise ValueError(f"{type(obj).__name__}._build_modules() did not recreate {attr}")
            head = f"{prefix}{attr}."
            sd = {k[len(head) :]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith(head)}
            module.load_state_dict(sd, strict=True)
            module.eval()


def _digest(config_json: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(config_json.encode())
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- public
def save_model(obj: Any, path: str | Path) -> Path:
    """Write a fitted or unfitted detector/generator to ``path`` (``.safetensors`` appended if missing)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors: dict[str, np.ndarray] = {}
    config = {
        "format": "anomalyforge",
        "format_version": FORMAT_VERSION,
        "anomalyforge_version": anomalyforge.__version__,
        **_describe(obj),
        "state": _encode_state(obj, "", tensors),
    }
    config_json = json.dumps(config, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"anomalyforge": config_json, "sha256": _digest(config_json, tensors)})
    return path


def load_model(path: str | Path) -> Any:
    """Read a model written by ``save_model``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an anomalyforge file, written by another format or package version, or modified
            after it was written.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from exc
    if "anomalyforge" not in meta or "sha256" not in meta:
        raise ValueError(f"{path} is a safetensors file but was not written by anomalyforge")
    config_json = meta["anomalyforge"]
    if _digest(config_json, tensors) != meta["sha256"]:
        raise ValueError(f"{path} was modified after it was written (checksum mismatch); refusing to load it")
    config = json.loads(config_json)
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} uses file format {config.get('format_version')}, this anomalyforge reads format "
            f"{FORMAT_VERSION}; re-fit and save the model with this version"
        )
    if config.get("anomalyforge_version") != anomalyforge.__version__:
        raise ValueError(
            f"{path} was written by anomalyforge {config.get('anomalyforge_version')}, this is "
            f"{anomalyforge.__version__}; re-fit and save the model with this version"
        )
    obj = _instantiate(config)
    _decode_state(obj, config["state"], "", tensors)
    return obj
