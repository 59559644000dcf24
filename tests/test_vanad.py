"""VAN-AD: rendering round trip, checkerboard masks, the MAE, the published-checkpoint loader, ADMM, detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anomalyforge.detectors.vanad import VanAD
from anomalyforge.detectors.vanad.checkpoint import load_mae_checkpoint
from anomalyforge.detectors.vanad.image import (
    admm_map,
    checkerboard_masks,
    estimate_period,
    images_to_windows,
    normalise_windows,
    padding_for_period,
    window_statistics,
    windows_to_images,
)
from anomalyforge.detectors.vanad.mae import MAEConfig, MaskedAutoencoder, sincos_pos_embed_2d

from .conftest import make_series

TINY_MAE = MAEConfig(
    image_size=32,
    patch_size=8,
    embed_dim=16,
    depth=2,
    num_heads=2,
    decoder_embed_dim=8,
    decoder_depth=1,
    decoder_num_heads=2,
)
TINY_DET = {
    "window": 32,
    "image_size": 32,
    "patch_size": 8,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
    "decoder_embed_dim": 16,
    "decoder_depth": 1,
    "decoder_num_heads": 2,
    "max_train_windows": 64,
    "nf_hidden": 8,
}


# ------------------------------------------------------------------------------------------ rendering
@pytest.mark.parametrize(("length", "channels", "size", "period"), [(64, 4, 96, 1), (100, 3, 64, 12), (40, 1, 32, 1)])
def test_window_image_round_trip_recovers_a_smooth_window(length, channels, size, period):
    t = torch.arange(length, dtype=torch.float32)[None, :, None]
    phase = torch.linspace(0, 2, channels)[None, None, :]
    windows = torch.sin(2 * np.pi * t / 40 + phase) + 0.3 * torch.cos(2 * np.pi * t / 90)
    pad = padding_for_period(length, period)
    images = windows_to_images(windows, size, pad)
    assert images.shape == (1, 3, size, size)
    assert torch.equal(images[:, 0], images[:, 2])  # grey repeated to 3 channels
    back = images_to_windows(images, channels, length, pad)
    assert back.shape == windows.shape
    err = (back - windows).abs()
    assert err[:, 2:-2].max() < 0.03, f"round trip error {err.max():.4f}"  # edges: resampling borders
    assert err.max() < 0.15


def test_rows_are_variables():
    windows = torch.zeros(1, 20, 2)
    windows[..., 1] = 1.0  # second variable high
    images = windows_to_images(windows, 16)
    assert images[0, 0, :4].max() < 1e-6 and images[0, 0, -4:].min() > 1 - 1e-6
    assert (images[0, 0, :, 1:] == images[0, 0, :, :1]).all()  # constant in time


def test_padding_for_period():
    assert padding_for_period(100, 10) == 0
    assert padding_for_period(100, 12) == 8
    assert padding_for_period(100, 1) == 0


def test_estimate_period_finds_the_period():
    assert estimate_period(make_series(600, 3, seed=4), max_period=50) == 25
    assert estimate_period(np.random.default_rng(0).normal(size=(500, 2)), max_period=50) == 1
    assert estimate_period(np.ones((100, 2)), max_period=20) == 1


# ------------------------------------------------------------------------------------------- masks
@pytest.mark.parametrize("grid", [4, 8, 14])
def test_checkerboard_masks_are_complementary_halves(grid):
    a, b = checkerboard_masks(grid)
    assert a.shape == b.shape == (grid * grid,)
    assert not (a & b).any() and (a | b).all()
    assert int(a.sum()) == int(b.sum()) == grid * grid // 2
    board = a.reshape(grid, grid)
    assert (board[:, 1:] != board[:, :-1]).all() and (board[1:] != board[:-1]).all()  # neighbours alternate


def test_checkerboard_needs_a_grid():
    with pytest.raises(ValueError, match="2 x 2"):
        checkerboard_masks(1)


# --------------------------------------------------------------------------------------------- MAE
def test_patchify_round_trip_and_pos_embed():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(TINY_MAE)
    images = torch.randn(2, 3, 32, 32)
    patches = mae.patchify(images)
    assert patches.shape == (2, 16, 8 * 8 * 3)
    assert torch.equal(patches[0, 1, :3], images[0, :, 0, 8])  # patch (0, 1), pixel (0, 0), 3 colours
    assert torch.equal(mae.unpatchify(patches), images)
    emb = sincos_pos_embed_2d(16, 4)
    assert emb.shape == (17, 16) and np.all(emb[0] == 0)
    # MAE's layout: first half encodes the column, second half the row; patch index = row * 4 + col.
    omega = 1.0 / 10000 ** (np.arange(4) / 4.0)
    row, col = 2, 3
    expect = np.concatenate([np.sin(col * omega), np.cos(col * omega), np.sin(row * omega), np.cos(row * omega)])
    np.testing.assert_allclose(emb[1 + row * 4 + col], expect, rtol=1e-6)


def test_a_patch_is_reconstructed_without_seeing_itself():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(TINY_MAE).eval()
    images = torch.randn(1, 3, 32, 32)
    changed = images.clone()
    changed[:, :, 8:16, 16:24] += 5.0  # patch (1, 2)
    with torch.no_grad():
        a, b = mae.reconstruct(images), mae.reconstruct(changed)
    torch.testing.assert_close(a[:, :, 8:16, 16:24], b[:, :, 8:16, 16:24])
    assert (a - b).abs().max() > 1e-3  # other patches see it


# ---------------------------------------------------------------------------------------- checkpoint
def published_state(cfg: MAEConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the published (timm-style) names and shapes of Meta's MAE checkpoints."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    d, dd, p, n = cfg.embed_dim, cfg.decoder_embed_dim, cfg.patch_size, cfg.grid**2
    sd = {
        "cls_token": r(1, 1, d),
        "pos_embed": torch.from_numpy(sincos_pos_embed_2d(d, cfg.grid))[None],
        "patch_embed.proj.weight": r(d, 3, p, p),
        "patch_embed.proj.bias": r(d),
        "norm.weight": 1 + r(d),
        "norm.bias": r(d),
        "mask_token": r(1, 1, dd),
        "decoder_embed.weight": r(dd, d),
        "decoder_embed.bias": r(dd),
        "decoder_pos_embed": torch.from_numpy(sincos_pos_embed_2d(dd, cfg.grid))[None],
        "decoder_norm.weight": 1 + r(dd),
        "decoder_norm.bias": r(dd),
        "decoder_pred.weight": r(p * p * 3, dd),
        "decoder_pred.bias": r(p * p * 3),
    }
    for group, depth, dim in (("blocks", cfg.depth, d), ("decoder_blocks", cfg.decoder_depth, dd)):
        for i in range(depth):
            pre = f"{group}.{i}."
            sd.update({
                pre + "norm1.weight": 1 + r(dim), pre + "norm1.bias": r(dim),
                pre + "attn.qkv.weight": r(3 * dim, dim), pre + "attn.qkv.bias": r(3 * dim),
                pre + "attn.proj.weight": r(dim, dim), pre + "attn.proj.bias": r(dim),
                pre + "norm2.weight": 1 + r(dim), pre + "norm2.bias": r(dim),
                pre + "mlp.fc1.weight": r(4 * dim, dim), pre + "mlp.fc1.bias": r(4 * dim),
                pre + "mlp.fc2.weight": r(dim, 4 * dim), pre + "mlp.fc2.bias": r(dim),
            })  # fmt: skip
    assert n == sd["pos_embed"].shape[1] - 1
    return sd


def reference_block(x, sd, pre, heads):
    """timm's ViT Block written out with functional ops (qkv split as (3, heads, head_dim))."""
    b, n, d = x.shape
    h = F.layer_norm(x, (d,), sd[pre + "norm1.weight"], sd[pre + "norm1.bias"], 1e-6)
    qkv = F.linear(h, sd[pre + "attn.qkv.weight"], sd[pre + "attn.qkv.bias"])
    q, k, v = qkv.reshape(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    attn = ((q @ k.transpose(-2, -1)) * (d // heads) ** -0.5).softmax(-1)
    x = x + F.linear(
        (attn @ v).transpose(1, 2).reshape(b, n, d), sd[pre + "attn.proj.weight"], sd[pre + "attn.proj.bias"]
    )
    h = F.layer_norm(x, (d,), sd[pre + "norm2.weight"], sd[pre + "norm2.bias"], 1e-6)
    return x + F.linear(F.gelu(F.linear(h, sd[pre + "mlp.fc1.weight"], sd[pre + "mlp.fc1.bias"])),
                        sd[pre + "mlp.fc2.weight"], sd[pre + "mlp.fc2.bias"])  # fmt: skip


def reference_reconstruct(images, sd, cfg):
    """MAE forward (encoder on visible patches, decoder on all) for both checkerboard passes, from the raw dict."""
    p, g = cfg.patch_size, cfg.grid
    x = F.conv2d(images, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=p)
    x = x.flatten(2).transpose(1, 2) + sd["pos_embed"][:, 1:]
    rows, cols = np.divmod(np.arange(g * g), g)
    out = torch.zeros(images.shape[0], g * g, p * p * 3)
    for masked in ((rows + cols) % 2 == 1, (rows + cols) % 2 == 0):
        keep = np.flatnonzero(~masked)
        z = torch.cat([(sd["cls_token"] + sd["pos_embed"][:, :1]).expand(len(x), -1, -1), x[:, keep]], dim=1)
        for i in range(cfg.depth):
            z = reference_block(z, sd, f"blocks.{i}.", cfg.num_heads)
        z = F.layer_norm(z, (cfg.embed_dim,), sd["norm.weight"], sd["norm.bias"], 1e-6)
        z = F.linear(z, sd["decoder_embed.weight"], sd["decoder_embed.bias"])
        full = sd["mask_token"].repeat(len(x), g * g, 1)
        full[:, keep] = z[:, 1:]
        z = torch.cat([z[:, :1], full], dim=1) + sd["decoder_pos_embed"]
        for i in range(cfg.decoder_depth):
            z = reference_block(z, sd, f"decoder_blocks.{i}.", cfg.decoder_num_heads)
        z = F.layer_norm(z, (cfg.decoder_embed_dim,), sd["decoder_norm.weight"], sd["decoder_norm.bias"], 1e-6)
        pred = F.linear(z, sd["decoder_pred.weight"], sd["decoder_pred.bias"])[:, 1:]
        out[:, torch.from_numpy(masked)] = pred[:, torch.from_numpy(masked)]
    out = out.reshape(len(x), g, g, p, p, 3)
    return torch.einsum("nhwpqc->nchpwq", out).reshape(len(x), 3, g * p, g * p)


def set_directly(cfg: MAEConfig, sd: dict[str, torch.Tensor]) -> MaskedAutoencoder:
    """The module with the published weights assigned by hand, attribute by attribute."""
    mae = MaskedAutoencoder(cfg)
    with torch.no_grad():
        mae.cls_token.copy_(sd["cls_token"])
        mae.mask_token.copy_(sd["mask_token"])
        mae.pos_embed.copy_(sd["pos_embed"])
        mae.decoder_pos_embed.copy_(sd["decoder_pos_embed"])
        mae.patch_embed.weight.copy_(sd["patch_embed.proj.weight"])
        mae.patch_embed.bias.copy_(sd["patch_embed.proj.bias"])
        for name in ("norm", "decoder_embed", "decoder_norm", "decoder_pred"):
            getattr(mae, name).weight.copy_(sd[f"{name}.weight"])
            getattr(mae, name).bias.copy_(sd[f"{name}.bias"])
        for group in ("blocks", "decoder_blocks"):
            for i, blk in enumerate(getattr(mae, group)):
                pre = f"{group}.{i}."
                blk.norm1.weight.copy_(sd[pre + "norm1.weight"])
                blk.norm1.bias.copy_(sd[pre + "norm1.bias"])
                blk.self_attn.in_proj_weight.copy_(sd[pre + "attn.qkv.weight"])
                blk.self_attn.in_proj_bias.copy_(sd[pre + "attn.qkv.bias"])
                blk.self_attn.out_proj.weight.copy_(sd[pre + "attn.proj.weight"])
                blk.self_attn.out_proj.bias.copy_(sd[pre + "attn.proj.bias"])
                blk.norm2.weight.copy_(sd[pre + "norm2.weight"])
                blk.norm2.bias.copy_(sd[pre + "norm2.bias"])
                blk.linear1.weight.copy_(sd[pre + "mlp.fc1.weight"])
                blk.linear1.bias.copy_(sd[pre + "mlp.fc1.bias"])
                blk.linear2.weight.copy_(sd[pre + "mlp.fc2.weight"])
                blk.linear2.bias.copy_(sd[pre + "mlp.fc2.bias"])
    return mae.eval()


@pytest.fixture
def checkpoint(tmp_path):
    sd = published_state(TINY_MAE)
    path = tmp_path / "mae_visualize_vit_tiny.pth"
    torch.save({"model": sd}, path)
    return path, sd


def test_checkpoint_loads_to_the_same_outputs(checkpoint, tmp_path):
    path, sd = checkpoint
    loaded = load_mae_checkpoint(path, num_heads=2, decoder_num_heads=2)
    assert loaded.config == TINY_MAE
    assert not any(p.requires_grad for p in loaded.parameters())
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = loaded.reconstruct(images)
        direct = set_directly(TINY_MAE, sd).reconstruct(images)
        reference = reference_reconstruct(images, sd, TINY_MAE)
    assert torch.equal(out, direct)
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)
    from safetensors.torch import save_file

    st = tmp_path / "mae.safetensors"
    save_file({f"model.{k}": v.contiguous() for k, v in sd.items()}, str(st))
    with torch.no_grad():
        assert torch.equal(load_mae_checkpoint(st, 2, 2).reconstruct(images), out)


def test_checkpoint_errors_are_clear(checkpoint, tmp_path):
    path, sd = checkpoint
    with pytest.raises(ValueError, match="mae_num_heads"):
        load_mae_checkpoint(path)  # tiny widths are not a published size: heads must be given
    bad = dict(sd)
    del bad["blocks.1.attn.qkv.weight"]
    torch.save({"model": bad}, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing \['blocks.1.attn.qkv.weight'\]"):
        load_mae_checkpoint(tmp_path / "missing.pth", 2, 2)
    bad = dict(sd)
    bad["blocks.0.attn.qkv_w"] = bad.pop("blocks.0.attn.qkv.weight")
    torch.save({"model": bad}, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match="blocks.0.attn.qkv_w"):
        load_mae_checkpoint(tmp_path / "renamed.pth", 2, 2)
    bad = dict(sd)
    bad["norm.bias"] = torch.zeros(5)
    torch.save({"model": bad}, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match="norm.bias has shape"):
        load_mae_checkpoint(tmp_path / "shape.pth", 2, 2)
    torch.save({"model": sd, "extra": np.random.default_rng(0)}, tmp_path / "code.pth")
    with pytest.raises(ValueError, match="weights-only"):
        load_mae_checkpoint(tmp_path / "code.pth", 2, 2)
    with pytest.raises(FileNotFoundError, match="mae_weights=None"):
        load_mae_checkpoint(tmp_path / "absent.pth")


def test_detector_with_checkpoint_is_frozen_and_saved(checkpoint, tmp_path):
    path, sd = checkpoint
    train, test = make_series(300, 2, seed=1), make_series(200, 2, seed=2)
    det = VanAD(window=32, mae_weights=str(path), mae_num_heads=2, mae_decoder_num_heads=2, nf_epochs=1, nf_hidden=8)
    det.fit(train)
    assert det.mae_source_ == f"checkpoint {path}"
    assert "mae" not in det.training_summary()["parts"]
    assert torch.equal(det.mae_.blocks[0].linear1.weight, sd["blocks.0.mlp.fc1.weight"])  # not trained
    scores = det.anomaly_score(test)
    path.unlink()  # the saved file holds the weights; the checkpoint is not needed any more
    loaded = VanAD.load(det.save(tmp_path / "vanad"))
    np.testing.assert_allclose(loaded.anomaly_score(test), scores, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------------------------------------- ADMM
def test_admm_formula_and_inverse():
    x = torch.tensor([[[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]]])  # (1, 3 steps, 2 variables)
    mu, sigma = window_statistics(x)
    torch.testing.assert_close(mu, torch.tensor([[[3.0, 10.0]]]))
    torch.testing.assert_close(sigma, torch.sqrt(torch.tensor([[[8 / 3 + 1e-5, 1e-5]]])))
    z = normalise_windows(x, mu, sigma, 0.4)
    torch.testing.assert_close(z[..., 0].std(unbiased=False), torch.tensor(0.4), rtol=1e-4, atol=0)
    torch.testing.assert_close(admm_map(z, mu, sigma, 0.4), x)
    y = torch.full((1, 3, 2), 0.5)
    expect = 0.5 * sigma / 0.4 + mu  # y_dec = y * (sigma_w / 0.4) + mu_w
    torch.testing.assert_close(admm_map(y, mu, sigma, 0.4), expect.expand(1, 3, 2))


# ------------------------------------------------------------------------------------------ detector
def pattern_anomaly():
    """Train / test parts of one sine series (period 25); test steps 300-340 switch to period 8 (same range)."""
    full = make_series(1400, 2, seed=5)
    train, test = full[:800], full[800:].copy()
    t = np.arange(300, 340)
    test[300:340] = np.sin(2 * np.pi * t / 8)[:, None] * 1.4 * test[300:340].std(axis=0)
    return train, test


def test_detector_flags_a_planted_pattern_anomaly():
    train, test = pattern_anomaly()
    fast = {"mae_epochs": 15, "mae_batch_size": 8, "mae_lr": 3e-3, "train_stride": 4, "max_train_windows": 150}
    det = VanAD(**{**TINY_DET, **fast}, use_nf=False).fit(train)  # the MAE alone: no density term
    assert det.mae_source_ == "trained on training windows" and det.training_summary()["epochs"]["mae"] >= 1
    assert det.period_ == 1 and det.pad_ == 0  # period 25 > window / 2: not seen twice, no padding
    scores = det.anomaly_score(test)
    normal = np.r_[scores[:260], scores[380:]]
    assert scores[300:340].mean() > np.quantile(normal, 0.95)
    assert scores[300:340].mean() > 5 * np.median(normal)


def test_flow_term_flags_a_point_anomaly_and_options():
    train, test = make_series(400, 3, seed=1), make_series(300, 3, seed=2)
    test[100, :] = [3.0, -3.0, 3.0]
    det = VanAD(**TINY_DET, mae_epochs=1, how="max", combine="paper", period=12).fit(train)
    assert det.has_flow_ and det.training_summary()["epochs"]["flow"] == 5
    assert det.pad_ == 4  # 32 steps padded to 36 = 3 periods
    scores = det.anomaly_score(test)
    assert np.argmax(scores) in range(100 - 31, 101)
    raw = VanAD(**TINY_DET, mae_epochs=1, image_norm="none", use_nf=False).fit(train)  # the public code's rendering
    assert not raw.has_flow_ and np.isfinite(raw.anomaly_score(test)).all()
    with pytest.raises(ValueError, match="combine"):
        VanAD(**TINY_DET, combine="sum").fit(train)


# ------------------------------------------------------------------------------------- one channel
def test_period_images_put_one_period_per_patch_row_and_round_trip():
    from anomalyforge.detectors.vanad.image import period_images_to_windows, windows_to_period_images

    period, rows = 30, 4
    t = torch.arange(period * rows, dtype=torch.float32)
    windows = (torch.sin(2 * np.pi * t / period) + 0.01 * t)[None, :, None]
    windows[0, 2 * period + 10, 0] += 3.0  # a spike in the third period
    images = windows_to_period_images(windows, period, 32)
    assert images.shape == (1, 3, 32, 32)
    block = images[0, 0].reshape(rows, 32 // rows, 32)
    assert torch.equal(block, block[:, :1].expand_as(block))  # each period fills whole pixel rows
    assert block[2, 0].max() > block[1, 0].max() + 1.0  # the spike stays in its own period's rows
    back = period_images_to_windows(images, period * rows, period)
    assert back.shape == windows.shape
    smooth = windows.clone()
    smooth[0, 2 * period + 10, 0] -= 3.0
    assert (period_images_to_windows(windows_to_period_images(smooth, period, 64), period * rows, period)
            - smooth).abs().max() < 0.05  # fmt: skip
    with pytest.raises(ValueError, match="divisible"):
        windows_to_period_images(windows[:, :-1], period, 32)


def test_one_channel_series_is_drawn_by_periods_with_a_gaussian_density():
    train = make_series(1200, 1, seed=3)  # period 25
    det = VanAD(**{**TINY_DET, "window": 32}, mae_epochs=1, n_periods=4, univariate_image="periods").fit(train)
    assert det.image_layout_ == "periods" and det.period_ == 25 and det.window_ == 100 and det.pad_ == 0
    assert det.has_flow_ and not hasattr(det, "flow_")
    assert det.training_summary()["stopped_by"]["flow"].startswith("closed form")
    test = make_series(600, 1, seed=4)
    scores = det.anomaly_score(test)
    assert scores.shape == (600,) and np.isfinite(scores).all()
    rows = VanAD(**TINY_DET, mae_epochs=1, univariate_image="rows").fit(train)
    assert rows.image_layout_ == "variables" and rows.window_ == 32
    short = VanAD(**TINY_DET, mae_epochs=1, period=200, univariate_image="periods").fit(
        train[:500]
    )  # 2 periods fit: window 400
    assert short.window_ == 400 and np.isfinite(short.anomaly_score(test)).all()


def test_one_channel_same_seed_without_budget_same_scores():
    train, test = make_series(600, 1, seed=3), make_series(300, 1, seed=4)
    for layout in ("periods", "rows"):
        params = {**TINY_DET, "mae_epochs": 1, "n_periods": 4, "mae_time_budget": None, "univariate_image": layout}
        first, second = VanAD(**params, random_state=3).fit(train), VanAD(**params, random_state=3).fit(train)
        np.testing.assert_array_equal(first.anomaly_score(test), second.anomaly_score(test))
