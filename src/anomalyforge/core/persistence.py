"""Save and load detectors and generators: one ``.safetensors`` file, never pickle.

The file's header metadata holds a JSON configuration (format version, package version, registry name,
constructor parameters, JSON-able fitted attributes) and a SHA-256 digest of that configuration and of
every stored array, and optionally a JSON ``metadata`` dict the caller attaches (the command line stores
the training file's data schema there: channel names and order, reading options). Arrays, torch
``state_dict`` tensors and fitted scikit-learn objects (as ``skops.io`` bytes, loaded with an explicit
list of trusted modules) are the file's tensors. Loading checks the format, the package version and the
digest, so a file from another version or an edited file fails with a clear
error instead of giving wrong scores.

The SHA-256 digest only catches accidents: whoever edits a file can recompute it. A model that crosses a
trust boundary (``anomalyforge serve`` loads only such models) is *signed*: an HMAC-SHA256 with a secret key
over the configuration and every array (name, dtype, shape and bytes, length-prefixed so that no two files
share a signed message), stored in the header beside a key id (an HMAC of a fixed label, so that "signed
with another key" and "modified after signing" get different messages without revealing the key).
``load_model(path, key=...)`` refuses an unsigned file, one signed with another key and one edited after
signing, before anything in it is deserialised. ``sign_model`` signs an existing file; ``save_model(...,
key=...)`` writes a signed one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.base import BaseEstimator

import anomalyforge
from anomalyforge.core.thresholds import BaseThreshold, threshold_from_config

__all__ = ["save_model", "load_model", "sign_model", "model_key", "key_id", "FORMAT_VERSION", "MODEL_KEY_ENV"]

FORMAT_VERSION = 1
_TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")
#: Environment variable holding the model signing key (text; a key file is the alternative).
MODEL_KEY_ENV = "ANOMALYFORGE_MODEL_KEY"
_MIN_KEY_BYTES = 16
_SIGNATURE_FIELD, _KEY_ID_FIELD = "hmac_sha256", "hmac_key_id"


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
    if isinstance(value, tuple):  # kept a tuple, so a loaded model's get_params equals the saved one's
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
        elif isinstance(value, list) and value and all(_is_ours(v) for v in value):
            state[attr] = {"__nested_list__": [
                {"__nested__": _describe(v), "state": _encode_state(v, f"{key}#{i}/", tensors)}
                for i, v in enumerate(value)
            ]}  # fmt: skip
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
        elif isinstance(value, dict) and "__nested_list__" in value:
            items = []
            for i, item in enumerate(value["__nested_list__"]):
                nested = _instantiate(item["__nested__"])
                _decode_state(nested, item["state"], f"{key}#{i}/", tensors)
                items.append(nested)
            setattr(obj, attr, items)
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


# ------------------------------------------------------------------------------------------- signing
def model_key(key: str | bytes | None = None, *, key_file: str | Path | None = None) -> bytes | None:
    """The signing key: ``key`` itself, else the contents of ``key_file``, else ``$ANOMALYFORGE_MODEL_KEY``.

    A key file's trailing newline is not part of the key. Returns None when none of them is given.

    Raises:
        ValueError: the key is shorter than 16 bytes, or the key file cannot be read.
    """
    if key is None and key_file is not None:
        try:
            key = Path(key_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ValueError(f"cannot read the model key file {key_file}: {exc.strerror}") from exc
    if key is None:
        key = os.environ.get(MODEL_KEY_ENV) or None
    if key is None:
        return None
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < _MIN_KEY_BYTES:
        raise ValueError(f"the model signing key is {len(raw)} bytes; use at least {_MIN_KEY_BYTES} random bytes "
                         "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")  # fmt: skip
    return raw


def key_id(key: bytes) -> str:
    """A public name of ``key`` (16 hex digits of an HMAC of a fixed label): tells keys apart, reveals nothing."""
    return hmac.new(key, b"anomalyforge model key id", hashlib.sha256).hexdigest()[:16]


def _signature(key: bytes, config_json: str, tensors: dict[str, np.ndarray]) -> str:
    """HMAC-SHA256 over the configuration and every array, each part length-prefixed (unambiguous)."""
    mac = hmac.new(key, b"anomalyforge signed model v1\x00", hashlib.sha256)

    def part(data: bytes) -> None:
        mac.update(struct.pack(">Q", len(data)))
        mac.update(data)

    part(config_json.encode())
    mac.update(struct.pack(">Q", len(tensors)))
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        part(json.dumps([name, arr.dtype.str, list(arr.shape)]).encode())
        part(arr.tobytes())
    return mac.hexdigest()


def _read_file(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
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
    return meta, tensors


def _check_signature(path: Path, meta: dict[str, str], tensors: dict[str, np.ndarray], key: bytes) -> None:
    signature = meta.get(_SIGNATURE_FIELD)
    if not signature:
        raise ValueError(
            f"{path} is not signed; sign it with `anomalyforge sign {path}` (with the key this service uses: "
            f"${MODEL_KEY_ENV} or --model-key-file) or fit it with `fit --sign`"
        )
    expected = _signature(key, meta["anomalyforge"], tensors)
    if hmac.compare_digest(signature.encode(), expected.encode()):
        return
    if not hmac.compare_digest(str(meta.get(_KEY_ID_FIELD, "")).encode(), key_id(key).encode()):
        raise ValueError(
            f"{path} is signed with another key (key id {meta.get(_KEY_ID_FIELD)!r}, this key is {key_id(key)!r}); "
            "refusing to load it. Sign it again with this key if you trust it"
        )
    raise ValueError(f"{path} was modified after it was signed (its signature does not match its contents); "
                     "refusing to load it")  # fmt: skip


def _write(path: Path, tensors: dict[str, np.ndarray], config_json: str, key: bytes | None) -> None:
    header = {"anomalyforge": config_json, "sha256": _digest(config_json, tensors)}
    if key is not None:
        header[_SIGNATURE_FIELD] = _signature(key, config_json, tensors)
        header[_KEY_ID_FIELD] = key_id(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a reader never sees half a file
    try:
        save_file(tensors, str(tmp), metadata=header)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sign_model(path: str | Path, key: bytes) -> str:
    """Sign a model file in place with ``key`` (replacing any earlier signature).

    The file's SHA-256 digest is checked first, so an already damaged file is not blessed.

    Returns:
        the key id the file is now signed with.
    """
    path = Path(path)
    meta, tensors = _read_file(path)
    if _digest(meta["anomalyforge"], tensors) != meta["sha256"]:
        raise ValueError(f"{path} was modified after it was written (checksum mismatch); not signing it")
    _write(path, tensors, meta["anomalyforge"], key)
    return key_id(key)


# ------------------------------------------------------------------------------------------- public
def save_model(
    obj: Any, path: str | Path, *, metadata: dict[str, Any] | None = None, key: bytes | None = None
) -> Path:
    """Write a fitted or unfitted detector/generator to ``path`` (``.safetensors`` appended if missing).

    Args:
        obj: a registered detector or generator.
        path: the file to write.
        metadata: JSON-able facts about the model that are not the model (e.g. the columns it was fitted on);
            stored in the checksummed configuration and returned by ``load_model(path, with_metadata=True)``.
        key: sign the file with this key (``model_key()``); None: unsigned.

    Returns:
        the path written.
    """
    if metadata is not None:
        try:
            metadata = json.loads(json.dumps(metadata))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"model metadata must be JSON-able: {exc}") from exc
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
        "metadata": metadata or {},
    }
    _write(path, tensors, json.dumps(config, sort_keys=True), key)
    return path


def load_model(path: str | Path, *, with_metadata: bool = False, key: bytes | None = None) -> Any:
    """Read a model written by ``save_model``.

    Args:
        path: the file.
        with_metadata: return ``(model, metadata)``, the metadata dict given to ``save_model`` ({} if none).
        key: require a valid signature with this key (checked before anything is deserialised); None:
            signatures are not checked.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an anomalyforge file, written by another format or package version, or modified
            after it was written; with ``key``: unsigned, signed with another key, or modified after signing.
    """
    path = Path(path)
    meta, tensors = _read_file(path)
    if key is not None:
        _check_signature(path, meta, tensors, key)
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
    return (obj, dict(config.get("metadata") or {})) if with_metadata else obj
