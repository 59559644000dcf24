"""VAN-AD's series <-> image rendering, the checkerboard masks, the period estimate and the ADMM mapping.

A window of shape (L, N) (L steps, N variables) becomes a grey image with one row per variable (N, L),
replicate-padded on the left to a multiple of the period, resized bilinearly to ``image_size x
image_size`` and repeated to three colour channels (the "multi_var" rendering of the VAN-AD code). The way
back averages the colour channels (grey), resizes to (N, L + pad) and drops the padding.

ADMM (Adaptive Distribution Mapping Module): with per-window, per-variable statistics ``mu_w`` (mean over
the window's steps) and ``sigma_w = sqrt(var_w + 1e-5)`` of the *input* window, the MAE's output ``y`` is
mapped back by ``y_dec = y * (sigma_w / norm_const) + mu_w`` with ``norm_const = 0.4``, the standard
deviation the window is given before rendering (``(x - mu_w) / (sigma_w / 0.4)``), which puts its values
in the range of ImageNet-normalised pixels the published MAE was trained on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "estimate_period",
    "padding_for_period",
    "window_statistics",
    "normalise_windows",
    "admm_map",
    "windows_to_images",
    "images_to_windows",
    "windows_to_period_images",
    "period_images_to_windows",
    "checkerboard_masks",
]

STD_EPS = 1e-5


def estimate_period(X: np.ndarray, max_period: int, min_correlation: float = 0.2) -> int:
    """Dominant period of a series from its autocorrelation (ACF), averaged over the varying channels.

    Args:
        X: (n_timesteps, n_channels) series.
        max_period: the largest lag considered (e.g. half the window).
        min_correlation: an ACF peak must reach this value to count as a period.

    Returns:
        The lag in ``[2, max_period]`` of the highest local ACF maximum, or 1 (no period) when there is
        none above ``min_correlation``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n = X.shape[0]
    max_period = int(min(max_period, n // 2))
    if max_period < 2:
        return 1
    Z = X - X.mean(axis=0)
    std = Z.std(axis=0)
    Z = Z[:, std > 1e-12] / std[std > 1e-12]
    if Z.shape[1] == 0:
        return 1
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(Z, n=size, axis=0)
    acf = np.fft.irfft(spec * np.conj(spec), n=size, axis=0)[: max_period + 2].mean(axis=1) / n
    acf = acf / max(acf[0], 1e-12)
    lags = np.arange(2, max_period + 1)
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] >= min_correlation)]
    if len(peaks) == 0:
        return 1
    return int(peaks[np.argmax(acf[peaks])])


def padding_for_period(length: int, period: int) -> int:
    """Steps to pad a window of ``length`` steps to a multiple of ``period`` (0 when it already is)."""
    period = max(int(period), 1)
    return (period - length % period) % period


def window_statistics(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window, per-variable mean and standard deviation.

    Args:
        windows: (B, L, N) tensor.

    Returns:
        ``(mu_w, sigma_w)``, each (B, 1, N); ``sigma_w = sqrt(biased variance + 1e-5)`` never vanishes.
    """
    mu = windows.mean(dim=1, keepdim=True)
    sigma = torch.sqrt(windows.var(dim=1, keepdim=True, unbiased=False) + STD_EPS)
    return mu, sigma


def normalise_windows(windows: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, norm_const: float) -> torch.Tensor:
    """(B, L, N) windows to mean 0 and standard deviation ``norm_const`` per window and variable."""
    return (windows - mu) / (sigma / norm_const)


def admm_map(y: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, norm_const: float) -> torch.Tensor:
    """ADMM: ``y_dec = y * (sigma_w / norm_const) + mu_w`` for (B, L, N) ``y`` and (B, 1, N) statistics."""
    return y * (sigma / norm_const) + mu


def windows_to_images(windows: torch.Tensor, image_size: int, pad: int = 0) -> torch.Tensor:
    """Render (B, L, N) windows as (B, 3, image_size, image_size) images with one row per variable.

    The time axis is replicate-padded on the left by ``pad`` steps, then the (N, L + pad) grey image is
    resized bilinearly (without antialiasing, as the published code's torchvision ``Resize(antialias=False)``:
    each output pixel interpolates its two nearest source pixels, so a variable's row is not blurred into its
    neighbours' on the way back) and repeated to 3 channels.
    """
    x = windows.transpose(1, 2)  # (B, N, L)
    if pad:
        x = F.pad(x, (pad, 0), mode="replicate")
    img = F.interpolate(
        x.unsqueeze(1), size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=False
    )
    return img.expand(-1, 3, -1, -1)


def images_to_windows(images: torch.Tensor, n_variables: int, length: int, pad: int = 0) -> torch.Tensor:
    """Inverse of ``windows_to_images``: (B, 3, S, S) images to (B, length, n_variables) windows.

    The colour channels are averaged (grey), the image is resized bilinearly to (n_variables, length +
    pad) and the ``pad`` leading (padding) steps are dropped.
    """
    grey = images.mean(dim=1, keepdim=True)
    back = F.interpolate(grey, size=(n_variables, length + pad), mode="bilinear", align_corners=False, antialias=False)
    return back[:, 0, :, pad:].transpose(1, 2)


def windows_to_period_images(windows: torch.Tensor, period: int, image_size: int) -> torch.Tensor:
    """Render one-channel (B, L, 1) windows as (B, 3, image_size, image_size) images, one row per period.

    The window (L a multiple of ``period``) is cut into its L / period consecutive periods, stacked as the
    rows of an (L / period, period) grey image, so a column holds the same phase of every period. Each
    period is resized bilinearly (no antialiasing) to ``image_size`` pixels and repeated over
    ``image_size / rows`` pixel rows (nearest, not bilinear, vertically: a period's pixels never blend into
    its neighbours', and with as many periods as patch rows each period is exactly one row of patches, so
    a masked patch must be predicted from the other periods above and below it, not from a copy of itself).
    """
    b, length, n = windows.shape
    if n != 1 or length % period:
        raise ValueError(f"period images need one channel and a length divisible by {period}; got {(length, n)}")
    rows = length // period
    x = windows[..., 0].reshape(b, 1, rows, period)
    x = F.interpolate(x, size=(rows, image_size), mode="bilinear", align_corners=False, antialias=False)
    img = F.interpolate(x, size=(image_size, image_size), mode="nearest")
    return img.expand(-1, 3, -1, -1)


def period_images_to_windows(images: torch.Tensor, length: int, period: int) -> torch.Tensor:
    """Inverse of ``windows_to_period_images``: (B, 3, S, S) images to (B, length, 1) windows.

    Grey (mean of the colour channels), each period's pixel rows averaged (the rows nearest sampling gave
    it), then resized bilinearly back to ``period`` steps.
    """
    grey = images.mean(dim=1)  # (B, S, S)
    size, rows = grey.shape[1], length // period
    owner = torch.div(torch.arange(size, device=grey.device) * rows, size, rounding_mode="floor")  # nearest's rows
    one_hot = F.one_hot(owner, rows).to(grey.dtype)  # (S, rows)
    per_row = torch.einsum("bsw,sr->brw", grey, one_hot) / one_hot.sum(dim=0)[None, :, None]
    back = F.interpolate(per_row[:, None], size=(rows, period), mode="bilinear", align_corners=False, antialias=False)
    return back.reshape(images.shape[0], length, 1)


def checkerboard_masks(grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two complementary checkerboard masks over a ``grid x grid`` patch grid (row-major order).

    Returns:
        ``(mask_a, mask_b)``, bool tensors of shape (grid * grid,), True where a patch is *masked* in that
        pass: ``mask_a`` masks patches with odd ``row + col``, ``mask_b = ~mask_a``. Each masks half the
        patches (for an odd ``grid`` one of them masks one patch more), and every patch is masked in
        exactly one pass, so combining the masked-patch predictions of both passes predicts every patch
        once.
    """
    if grid < 2:
        raise ValueError(f"the patch grid must be at least 2 x 2 for checkerboard masks, got {grid} x {grid}")
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    mask_a = ((rows + cols) % 2 == 1).reshape(-1)
    return mask_a, ~mask_a
