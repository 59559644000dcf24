"""A masked autoencoder (MAE) with a ViT encoder and decoder, built from ``torch.nn`` layers.

The architecture is the one of He et al.'s MAE (the models behind Meta's ``mae_visualize_vit_*.pth``
checkpoints): a convolutional patch embedding, a class token, fixed 2-D sine-cosine position embeddings,
pre-norm transformer blocks (LayerNorm eps 1e-6, multi-head self-attention with a bias on the joint q/k/v
projection, GELU MLP of ratio 4), a final LayerNorm, a linear decoder embedding, a learned mask token,
decoder blocks of the same kind and a linear prediction of each patch's ``patch_size**2 * 3`` pixels in
the (row, column, colour) order of MAE's ``patchify``. ``checkpoint.py`` maps the published key names onto
this module, so the same weights give the same output. (timm, which the original code imports these
blocks from, cannot be imported here.)

VAN-AD masks with two complementary checkerboards: the encoder sees the visible half of the patches, the
decoder predicts every patch, and only the predictions of the masked half are kept; the two passes
together predict every patch once from its unmasked neighbours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from anomalyforge.detectors.vanad.image import checkerboard_masks

__all__ = ["MAEConfig", "MaskedAutoencoder", "sincos_pos_embed_2d"]


@dataclass(frozen=True)
class MAEConfig:
    """Sizes of a ``MaskedAutoencoder`` (the published ViT-B/16 MAE: 224, 16, 768, 12, 12, 512, 8, 16)."""

    image_size: int = 64
    patch_size: int = 8
    in_chans: int = 3
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    decoder_embed_dim: int = 64
    decoder_depth: int = 1
    decoder_num_heads: int = 4
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.image_size // self.patch_size < 2:
            raise ValueError(f"image_size {self.image_size} / patch_size {self.patch_size} gives < 2x2 patches")
        for dim, heads, what in (
            (self.embed_dim, self.num_heads, "embed_dim"),
            (self.decoder_embed_dim, self.decoder_num_heads, "decoder_embed_dim"),
        ):
            if dim % heads or dim % 4:
                raise ValueError(f"{what}={dim} must be divisible by its head count ({heads}) and by 4")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sincos_pos_embed_2d(dim: int, grid: int, cls_token: bool = True) -> np.ndarray:
    """Fixed 2-D sine-cosine position embeddings of a ``grid x grid`` patch grid (MAE's layout).

    The first half of the ``dim`` features encodes the patch's column, the second half its row; each half is
    ``[sin(pos * w_k), cos(pos * w_k)]`` with ``w_k = 10000 ** (-k / (dim / 4))``.

    Returns:
        float32 array of shape (grid * grid + 1, dim) with a zero row for the class token first, or
        (grid * grid, dim) when ``cls_token`` is False.
    """
    if dim % 4:
        raise ValueError(f"the embedding dimension must be divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")

    def encode(pos: np.ndarray) -> np.ndarray:
        angles = pos.reshape(-1)[:, None] * omega[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    emb = np.concatenate([encode(cols), encode(rows)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
    return emb.astype(np.float32)


def _block(dim: int, heads: int, cfg: MAEConfig) -> nn.TransformerEncoderLayer:
    """A pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x)); no dropout."""
    return nn.TransformerEncoderLayer(
        d_model=dim,
        nhead=heads,
        dim_feedforward=int(dim * cfg.mlp_ratio),
        dropout=0.0,
        activation="gelu",
        layer_norm_eps=cfg.norm_eps,
        batch_first=True,
        norm_first=True,
    )


class MaskedAutoencoder(nn.Module):
    """MAE ViT: ``reconstruct(images)`` gives the checkerboard reconstruction of (B, 3, S, S) images."""

    def __init__(self, config: MAEConfig) -> None:
        super().__init__()
        self.config = cfg = config
        n_patches = cfg.grid**2
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.register_buffer("pos_embed", torch.from_numpy(sincos_pos_embed_2d(cfg.embed_dim, cfg.grid))[None])
        self.blocks = nn.ModuleList([_block(cfg.embed_dim, cfg.num_heads, cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.decoder_embed = nn.Linear(cfg.embed_dim, cfg.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_embed_dim))
        self.register_buffer(
            "decoder_pos_embed", torch.from_numpy(sincos_pos_embed_2d(cfg.decoder_embed_dim, cfg.grid))[None]
        )
        self.decoder_blocks = nn.ModuleList(
            [_block(cfg.decoder_embed_dim, cfg.decoder_num_heads, cfg) for _ in range(cfg.decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(cfg.decoder_embed_dim, eps=cfg.norm_eps)
        self.decoder_pred = nn.Linear(cfg.decoder_embed_dim, cfg.patch_size**2 * cfg.in_chans)
        mask_a, mask_b = checkerboard_masks(cfg.grid)
        self.register_buffer("masks", torch.stack([mask_a, mask_b]), persistent=False)
        assert self.masks.shape == (2, n_patches)
        self._init_weights()

    def _init_weights(self) -> None:
        """MAE's initialisation: xavier-uniform linear layers and patch projection, N(0, 0.02) tokens."""
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.MultiheadAttention):
                nn.init.xavier_uniform_(module.in_proj_weight)
                nn.init.zeros_(module.in_proj_bias)

    # ------------------------------------------------------------------------------------- patches
    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) images -> (B, n_patches, p * p * C) in (row, column, colour) pixel order."""
        p, g, c = self.config.patch_size, self.config.grid, self.config.in_chans
        x = images.reshape(images.shape[0], c, g, p, g, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(images.shape[0], g * g, p * p * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, n_patches, p * p * C) -> (B, C, S, S); the inverse of ``patchify``."""
        p, g, c = self.config.patch_size, self.config.grid, self.config.in_chans
        x = patches.reshape(patches.shape[0], g, g, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(patches.shape[0], c, g * p, g * p)

    # ------------------------------------------------------------------------------------ forward
    def encode(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Encode the visible patches ``keep`` (index tensor) of (B, C, S, S) images -> (B, 1 + n_keep, D)."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]
        x = x[:, keep]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def decode(self, latent: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Predict every patch from the encoded visible ones: (B, 1 + n_keep, D) -> (B, n_patches, p*p*C)."""
        x = self.decoder_embed(latent)
        n_patches = self.config.grid**2
        tokens = self.mask_token.expand(x.shape[0], n_patches, -1).clone()
        tokens[:, keep] = x[:, 1:]
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def predict_masked(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Patch predictions (B, n_patches, p*p*C) with the patches where ``mask`` is True hidden."""
        keep = torch.nonzero(~mask).reshape(-1)
        return self.decode(self.encode(images, keep), keep)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Checkerboard reconstruction: each patch predicted by the pass that masks it; (B, C, S, S)."""
        out = 0.0
        for mask in self.masks:
            out = out + self.predict_masked(images, mask) * mask[None, :, None].to(images.dtype)
        return self.unpatchify(out)

    def masked_loss(self, images: torch.Tensor) -> torch.Tensor:
        """Training loss: mean squared error on the masked patches of both checkerboard passes."""
        target = self.patchify(images)
        total = 0.0
        for mask in self.masks:
            pred = self.predict_masked(images, mask)
            total = total + ((pred[:, mask] - target[:, mask]) ** 2).mean()
        return total / len(self.masks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(images)
