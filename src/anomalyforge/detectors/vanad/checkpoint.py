"""Load a published MAE checkpoint (Meta's ``mae_visualize_vit_*.pth`` format) into ``MaskedAutoencoder``.

The published file is a torch pickle holding ``{"model": state_dict}`` with timm-style names (MAE builds
its blocks from ``timm.models.vision_transformer.Block``). It is read with ``torch.load(...,
weights_only=True)``, which refuses anything but tensors and plain containers, so no code in the file
runs. A ``.safetensors`` file with the same names (with or without the ``model.`` prefix) is accepted too.

Name mapping (``{i}`` a block index; the decoder's ``decoder_blocks.{i}`` map the same way)::

    cls_token, mask_token, pos_embed, decoder_pos_embed     -> same names
    patch_embed.proj.{weight,bias}                          -> patch_embed.{weight,bias}
    blocks.{i}.norm1 / norm2 .{weight,bias}                 -> blocks.{i}.norm1 / norm2
    blocks.{i}.attn.qkv.weight (3D, D), .bias (3D,)         -> blocks.{i}.self_attn.in_proj_weight / _bias
    blocks.{i}.attn.proj.{weight,bias}                      -> blocks.{i}.self_attn.out_proj.{weight,bias}
    blocks.{i}.mlp.fc1 / fc2 .{weight,bias}                 -> blocks.{i}.linear1 / linear2
    norm, decoder_embed, decoder_norm, decoder_pred         -> same names

timm splits the qkv output as (q, k, v) along the first axis, exactly as ``nn.MultiheadAttention`` splits
``in_proj_weight``, so the tensors are copied unchanged. The sizes are read from the tensors; the head
counts are not stored in the file and come from the published configurations (ViT-B/16: 12 heads, ViT-L
and ViT-H: 16, every decoder: 16) unless given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from anomalyforge.detectors.vanad.mae import MAEConfig, MaskedAutoencoder

__all__ = ["read_checkpoint", "config_from_state_dict", "published_to_module_state", "load_mae_checkpoint"]

_PUBLISHED_HEADS = {768: 12, 1024: 16, 1280: 16}  # encoder width -> heads (mae_vit_{base,large,huge})
_PUBLISHED_DECODER_HEADS = {512: 16}

_BLOCK_RENAMES = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "self_attn.in_proj_weight",
    "attn.qkv.bias": "self_attn.in_proj_bias",
    "attn.proj.weight": "self_attn.out_proj.weight",
    "attn.proj.bias": "self_attn.out_proj.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "linear1.weight",
    "mlp.fc1.bias": "linear1.bias",
    "mlp.fc2.weight": "linear2.weight",
    "mlp.fc2.bias": "linear2.bias",
}
_TOP_RENAMES = {"patch_embed.proj.weight": "patch_embed.weight", "patch_embed.proj.bias": "patch_embed.bias"}
_BLOCK_KEY = re.compile(r"^(blocks|decoder_blocks)\.(\d+)\.(.+)$")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the state dict of a published MAE checkpoint (``.pth`` / ``.pt`` or ``.safetensors``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read safely or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no MAE checkpoint at {path}; download e.g. mae_visualize_vit_base.pth from "
            "https://dl.fbaipublicfiles.com/mae/visualize/ or leave mae_weights=None to train a small MAE"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors, refused globals, truncated files
            raise ValueError(
                f"{path} could not be read as a weights-only torch checkpoint ({exc}); only tensors and plain "
                "containers are accepted, so a file holding code or custom classes is refused"
            ) from exc
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"{path} holds no state dict (expected a dict of tensors or {{'model': dict of tensors}})")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key[len("model.") :] if key.startswith("model.") else key] = value
    return out


def _need(state: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state:
        raise ValueError(
            f"the checkpoint has no {key!r}; it is not a published MAE checkpoint "
            f"(found keys such as {sorted(state)[:5]})"
        )
    return state[key]


def config_from_state_dict(
    state: Mapping[str, torch.Tensor],
    num_heads: int | None = None,
    decoder_num_heads: int | None = None,
) -> MAEConfig:
    """Infer the MAE sizes from the tensors of a published state dict.

    Args:
        state: published (timm-style) names -> tensors.
        num_heads: encoder attention heads (None: from the published configurations).
        decoder_num_heads: decoder attention heads (None: likewise).
    """
    proj = _need(state, "patch_embed.proj.weight")  # (D, C, p, p)
    embed_dim, in_chans, patch = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    n_tokens = int(_need(state, "pos_embed").shape[1])
    grid = int(round((n_tokens - 1) ** 0.5))
    if grid * grid + 1 != n_tokens:
        raise ValueError(f"pos_embed has {n_tokens} tokens, not 1 + a square number of patches")
    dec_dim = int(_need(state, "decoder_embed.weight").shape[0])
    depth = len({m.group(2) for k in state if (m := _BLOCK_KEY.match(k)) and m.group(1) == "blocks"})
    dec_depth = len({m.group(2) for k in state if (m := _BLOCK_KEY.match(k)) and m.group(1) == "decoder_blocks"})
    fc1 = _need(state, "blocks.0.mlp.fc1.weight")
    heads = num_heads or _PUBLISHED_HEADS.get(embed_dim)
    dec_heads = decoder_num_heads or _PUBLISHED_DECODER_HEADS.get(dec_dim)
    if heads is None or dec_heads is None:
        raise ValueError(
            f"the checkpoint (width {embed_dim}, decoder width {dec_dim}) is not one of the published MAE "
            "sizes, so its head counts are unknown; pass mae_num_heads and mae_decoder_num_heads"
        )
    return MAEConfig(
        image_size=grid * patch,
        patch_size=patch,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=int(heads),
        decoder_embed_dim=dec_dim,
        decoder_depth=dec_depth,
        decoder_num_heads=int(dec_heads),
        mlp_ratio=float(fc1.shape[0]) / embed_dim,
    )


def published_to_module_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename published (timm-style) keys to ``MaskedAutoencoder`` keys; unknown block keys raise."""
    out = {}
    for key, value in state.items():
        match = _BLOCK_KEY.match(key)
        if match:
            group, index, rest = match.groups()
            if rest not in _BLOCK_RENAMES:
                raise ValueError(f"unexpected key {key!r} in the checkpoint's {group} (not a ViT block weight)")
            out[f"{group}.{index}.{_BLOCK_RENAMES[rest]}"] = value
        else:
            out[_TOP_RENAMES.get(key, key)] = value
    return out


def _published_name(module_key: str) -> str:
    """The published name of a ``MaskedAutoencoder`` key (for error messages)."""
    match = _BLOCK_KEY.match(module_key)
    if match:
        group, index, rest = match.groups()
        inverse = {v: k for k, v in _BLOCK_RENAMES.items()}
        return f"{group}.{index}.{inverse.get(rest, rest)}"
    return {v: k for k, v in _TOP_RENAMES.items()}.get(module_key, module_key)


def load_mae_checkpoint(
    path: str | Path,
    num_heads: int | None = None,
    decoder_num_heads: int | None = None,
) -> MaskedAutoencoder:
    """Build a ``MaskedAutoencoder`` with the weights of a published MAE checkpoint, frozen, in eval mode.

    Raises:
        ValueError: a key is missing or unexpected, or a tensor has the wrong shape; the message names it.
    """
    state = read_checkpoint(path)
    config = config_from_state_dict(state, num_heads, decoder_num_heads)
    model = MaskedAutoencoder(config)
    mapped = published_to_module_state(state)
    expected = model.state_dict()
    missing = sorted(_published_name(k) for k in set(expected) - set(mapped))
    unexpected = sorted(_published_name(k) for k in set(mapped) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match the MAE layout: missing {missing[:6]}{' ...' if len(missing) > 6 else ''}, "
            f"unexpected {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}"
        )
    for key, tensor in mapped.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{path}: {_published_name(key)} has shape {tuple(tensor.shape)}, expected {tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.to(torch.float32) for k, v in mapped.items()}, strict=True)
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval()
