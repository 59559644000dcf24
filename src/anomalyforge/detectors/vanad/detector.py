"""VAN-AD (Chen et al., 2026): a visual masked autoencoder with ADMM and a normalizing flow.

Pipeline per window of ``window`` steps (the series first standardised with the training mean and standard
deviation of each channel):

1. Render: the window (L, N) is normalised per variable to mean 0 and std ``norm_const`` = 0.4, drawn as an
   (N, L) image (rows = variables), replicate-padded on the left to a multiple of the period, resized
   bilinearly to ``image_size`` squared and repeated to 3 colour channels (``image.py``).
2. MAE, two passes with complementary checkerboard masks (ratio 0.5); the masked-patch predictions of the
   two passes together give the reconstructed image, which is turned grey and resized back to (N, L).
3. ADMM: ``y_dec = y * (sigma_w / 0.4) + mu_w`` with the input window's per-variable mean and std.
4. Reconstruction term per step: mean over channels of ``(y_dec - x)**2``; a step covered by several
   windows takes the mean of their values (``how="point"``) or, with a window-level ``how`` (``"max"``,
   ``"mean"``, ...), each window's mean error is mapped to steps (the shared pipeline, ``core.windows``).
5. NFM: a MAF (``flow.py``) fitted to the training per-step vectors gives ``-log p(x_t)``. With one
   modelled variable the MAF is an affine map of its base (the only variable has no autoregressive inputs),
   i.e. a Gaussian, which is fitted in closed form (``gaussian_mean_``, ``gaussian_std_``).
6. Score: ``combine="standardised"`` (default) adds the two terms after centring each on its training
   median and dividing by its training spread (IQR / 1.349), so that neither dominates: the paper's raw sum
   ``lambda_rec * rec + lambda_nf * nll`` (``combine="paper"``, lambda_nf = 0.001) depends on the channel
   count and the data's scale, because the NLL of an N-dimensional vector grows with N.

The period is the ``period`` parameter (the published configurations set it per dataset) or, when None,
the autocorrelation estimate over lags 2 .. window / 2 of the standardised training series (a period must
fit twice in a window; without one there is no padding). Fitted: ``period_`` and ``pad_``.

One channel: with one image row per variable (``univariate_image="rows"``, default) the image is a single
row stretched into identical image rows. ``univariate_image="periods"`` draws it instead with one row per
period: the period is estimated from the training series (``estimate_sliding_window``, lags up to 400)
unless ``period`` is given, the window becomes ``n_periods`` periods (fewer for a short training series),
each period fills whole pixel rows (one patch row when ``n_periods`` equals the patch grid), so a column
holds one phase of every period. It did not help on the dev suite's UCR series (first 13, MAE budget 20 s:
mean VUS-PR 0.021 both ways, AUPR 0.025 against 0.028 for rows; with 15 MAE epochs on UCR 025: 0.024
against 0.090 for rows), so it is not the default. Both ways the reconstruction term follows the series'
amplitude (on UCR 037 it correlates 0.89 with the per-step z-score): the small MAE blurs the peaks of the
downsampled image, so the largest errors sit on the largest values. Fitted: ``image_layout_`` (``"periods"`` or
``"variables"``) and ``window_`` (the window actually used).

Which MAE a result used is stated by the fitted attribute ``mae_source_``:

- ``mae_weights=None`` (default): no pretrained weights are available offline, so a small MAE
  (``image_size`` 64, patch 8, width 64) is trained on the training windows with the masked-patch MSE of
  the same checkerboard masks (time-budgeted by ``mae_time_budget``): ``mae_source_ = "trained on training
  windows"``. This is *not* the paper's zero-shot ImageNet MAE.
- ``mae_weights=PATH``: a published MAE checkpoint (Meta's ``mae_visualize_vit_base.pth``, loaded without
  pickle code execution, ``checkpoint.py``), frozen as in the paper: ``mae_source_ = "checkpoint PATH"``.
  Its weights are stored in the saved model file; the path is informational only.

Scoring slides windows every ``score_stride`` steps (default window / 2; the paper's test windows do
not overlap: ``score_stride=window``) in batches of ``batch_size`` over a zero-copy view, so a 100k-step
series never holds all windows (measured: 100k x 5 channels with the default small MAE, 3.4 s CPU, +7 MB).
The published ViT-B/16 (112 M parameters, ``image_size`` and patch size read from the checkpoint, the
``image_size``..``decoder_num_heads`` parameters then unused) costs about 0.9 s CPU per window on one
thread, so use ``score_stride=window`` with it on a CPU.

Deviations from the public code, all deliberate: (a) the code computes the normalised window but renders
the un-normalised one (``image_norm="none"`` reproduces that); (b) it resizes the padded image back to the
unpadded length instead of dropping the padding; (c) its flow is fitted on the MAE's outputs and evaluated
on the raw inputs; here it is fitted and evaluated on the same thing, the input vectors. With a frozen or
separately trained MAE the joint loss ``lambda_rec * MSE + lambda_nf * NLL`` has no parameter shared by the
two terms, so it is minimised by fitting the flow on the NLL alone (5 epochs, batches of 128 windows drawn
with stride 10, as in the paper); the learning rate is constant (the code halves it each epoch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, BaseDetector, Tags
from anomalyforge.core.registry import DETECTORS
from anomalyforge.core.validation import Interval, Options
from anomalyforge.core.windows import (
    HOWS,
    StreamPlan,
    WindowSpec,
    channel_steps,
    score_series,
    standardise,
    standardiser,
    training_windows,
    window_scores,
)
from anomalyforge.detectors.vanad.checkpoint import load_mae_checkpoint
from anomalyforge.detectors.vanad.flow import build_flow, fit_flow, flow_nll
from anomalyforge.detectors.vanad.image import (
    admm_map,
    estimate_period,
    images_to_windows,
    normalise_windows,
    padding_for_period,
    period_images_to_windows,
    window_statistics,
    windows_to_images,
    windows_to_period_images,
)
from anomalyforge.detectors.vanad.mae import MAEConfig, MaskedAutoencoder
from anomalyforge.metrics.vus import estimate_sliding_window
from anomalyforge.nn.training import TrainConfig, fit_loop, resolve_device, seed_torch, torch_threads

__all__ = ["VanAD"]

_TINY = {
    "window": 32,
    "image_size": 32,
    "patch_size": 8,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
    "decoder_embed_dim": 16,
    "decoder_depth": 1,
    "decoder_num_heads": 2,
    "mae_epochs": 2,
    "max_train_windows": 64,
    "nf_epochs": 1,
    "nf_hidden": 8,
}


def _centre_and_spread(values: np.ndarray) -> tuple[float, float]:
    """Median and IQR / 1.349 (falling back to the std, then 1) of training term values."""
    q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    spread = (q75 - q25) / 1.349
    if not spread > 1e-12:
        spread = float(np.std(values))
    return float(q50), float(spread) if spread > 1e-12 else 1.0


@DETECTORS.register("vanad", test_params=_TINY)
class VanAD(BaseDetector):
    """VAN-AD: checkerboard-masked MAE reconstruction of series images + ADMM + a MAF density term."""

    tags: ClassVar[Tags] = Tags(min_length=8, uses_torch=True, channel_scores=True)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 2, None)],
        "period": [None, Interval(int, 1, None)],
        "mae_weights": [None, str],
        "mae_num_heads": [None, Interval(int, 1, None)],
        "mae_decoder_num_heads": [None, Interval(int, 1, None)],
        **{name: [Interval(int, 1, None)] for name in (
            "image_size", "patch_size", "embed_dim", "depth", "num_heads", "decoder_embed_dim", "decoder_depth",
            "decoder_num_heads", "mae_epochs", "mae_batch_size", "max_train_windows", "train_stride", "nf_blocks",
            "nf_hidden", "nf_layers", "nf_epochs", "nf_batch_size", "batch_size")},
        "mae_lr": [Interval(float, 0.0, None, "neither")],
        "mae_time_budget": [None, Interval(float, 0.0, None, "neither")],
        "norm_const": [Interval(float, 0.0, None, "neither")],
        "image_norm": [Options(("window", "none"))],
        "univariate_image": [Options(("periods", "rows"))],
        "n_periods": [Interval(int, 2, None)],
        "use_nf": [bool],
        "nf_lr": [Interval(float, 0.0, None, "neither")],
        "lambda_rec": [Interval(float, 0.0, None)],
        "lambda_nf": [Interval(float, 0.0, None)],
        "combine": [Options(("standardised", "paper"))],
        "score_stride": [None, Interval(int, 1, None)],
        "how": [Options(HOWS)],
        "device": [str],
        "random_state": RANDOM_STATE,
    }  # fmt: skip

    def __init__(
        self,
        window: int = 100,
        period: int | None = None,
        mae_weights: str | None = None,
        mae_num_heads: int | None = None,
        mae_decoder_num_heads: int | None = None,
        image_size: int = 64,
        patch_size: int = 8,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 4,
        decoder_embed_dim: int = 64,
        decoder_depth: int = 1,
        decoder_num_heads: int = 4,
        mae_epochs: int = 20,
        mae_batch_size: int = 32,
        mae_lr: float = 1e-3,
        mae_time_budget: float | None = 120.0,
        max_train_windows: int = 2000,
        train_stride: int = 10,
        norm_const: float = 0.4,
        image_norm: str = "window",
        univariate_image: str = "rows",
        n_periods: int = 8,
        use_nf: bool = True,
        nf_blocks: int = 2,
        nf_hidden: int = 32,
        nf_layers: int = 1,
        nf_epochs: int = 5,
        nf_batch_size: int = 128,
        nf_lr: float = 5e-3,
        lambda_rec: float = 1.0,
        lambda_nf: float = 0.001,
        combine: str = "standardised",
        score_stride: int | None = None,
        how: str = "point",
        batch_size: int = 32,
        device: str = "auto",
        threshold: Any = None,
        contamination: float = 0.01,
        random_state: int | None = 0,
    ) -> None:
        self.window = window
        self.period = period
        self.mae_weights = mae_weights
        self.mae_num_heads = mae_num_heads
        self.mae_decoder_num_heads = mae_decoder_num_heads
        self.image_size = image_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.decoder_embed_dim = decoder_embed_dim
        self.decoder_depth = decoder_depth
        self.decoder_num_heads = decoder_num_heads
        self.mae_epochs = mae_epochs
        self.mae_batch_size = mae_batch_size
        self.mae_lr = mae_lr
        self.mae_time_budget = mae_time_budget
        self.max_train_windows = max_train_windows
        self.train_stride = train_stride
        self.norm_const = norm_const
        self.image_norm = image_norm
        self.univariate_image = univariate_image
        self.n_periods = n_periods
        self.use_nf = use_nf
        self.nf_blocks = nf_blocks
        self.nf_hidden = nf_hidden
        self.nf_layers = nf_layers
        self.nf_epochs = nf_epochs
        self.nf_batch_size = nf_batch_size
        self.nf_lr = nf_lr
        self.lambda_rec = lambda_rec
        self.lambda_nf = lambda_nf
        self.combine = combine
        self.score_stride = score_stride
        self.how = how
        self.batch_size = batch_size
        self.device = device
        self.threshold = threshold
        self.contamination = contamination
        self.random_state = random_state

    def min_series_length(self) -> int:
        """The ``window`` parameter before fitting; once fitted, the window actually used (``window_``, which
        is ``n_periods`` periods for a one-channel series drawn by periods)."""
        return max(int(getattr(self, "window_", self.window)), self.tags.min_length)

    def _window_spec(self) -> WindowSpec:
        """Training windows every ``train_stride`` steps; scoring every ``score_stride`` (default window / 2).

        The window is the fitted ``window_`` (the ``window`` parameter, or ``n_periods`` periods for a
        one-channel series rendered by periods)."""
        window = int(self.window_)
        return WindowSpec(
            window=window,
            score_stride=int(self.score_stride or max(window // 2, 1)),
            how=self.how,
            train_stride=self.train_stride,
            batch_size=self.batch_size,
        )

    # -------------------------------------------------------------------------------------- pieces
    def _render(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, L, N) windows -> (images (B, 3, S, S), mu_w, sigma_w)."""
        mu, sigma = window_statistics(windows)
        inp = normalise_windows(windows, mu, sigma, self.norm_const) if self.image_norm == "window" else windows
        if self.image_layout_ == "periods":
            return windows_to_period_images(inp, self.period_, self.mae_.config.image_size), mu, sigma
        return windows_to_images(inp, self.mae_.config.image_size, self.pad_), mu, sigma

    def reconstruct(self, windows: torch.Tensor) -> torch.Tensor:
        """ADMM-mapped MAE reconstruction ``y_dec`` of (B, L, N) standardised windows, same shape."""
        images, mu, sigma = self._render(windows)
        if self.image_layout_ == "periods":
            y = period_images_to_windows(self.mae_.reconstruct(images), windows.shape[1], self.period_)
        else:
            y = images_to_windows(self.mae_.reconstruct(images), windows.shape[2], windows.shape[1], self.pad_)
        return admm_map(y, mu, sigma, self.norm_const)

    def _train_windows(self, Z: np.ndarray, cap: int | None) -> np.ndarray:
        spec = WindowSpec(window=self.window_, train_stride=self.train_stride, max_train_windows=cap)
        return training_windows(Z, spec).materialise(np.float32)

    def _build_modules(self) -> None:
        self.mae_ = MaskedAutoencoder(MAEConfig(**self.mae_config_))
        if self.has_flow_ and len(self.flow_channels_) > 1:
            self.flow_ = build_flow(len(self.flow_channels_), self.nf_blocks, self.nf_hidden, self.nf_layers)

    # ------------------------------------------------------------------------------------------ fit
    def _fit(self, X: np.ndarray, y: np.ndarray | None) -> None:
        with torch_threads():
            device = resolve_device(self.device)
            generator = seed_torch(self.random_state)
            rng = np.random.default_rng(self.random_state)
            self.mean_, self.std_ = standardiser(X)
            Z = standardise(X, self.mean_, self.std_)
            self._choose_layout(Z)
            if self.mae_weights:
                self.mae_ = load_mae_checkpoint(self.mae_weights, self.mae_num_heads, self.mae_decoder_num_heads)
                self.mae_source_ = f"checkpoint {self.mae_weights}"
                self.mae_.to(device)
            else:
                self.mae_source_ = "trained on training windows"
                self.mae_ = MaskedAutoencoder(self._small_config()).to(device)
                self._record_training("mae", self._fit_mae(Z, rng, device))
            self.mae_config_ = self.mae_.config.as_dict()
            self.flow_channels_ = np.flatnonzero(X.std(axis=0) > 1e-12).astype(np.int64)
            self.has_flow_ = bool(self.use_nf and len(self.flow_channels_))
            if self.has_flow_ and len(self.flow_channels_) == 1:
                # one modelled variable: a MAF's first (here only) variable has no autoregressive inputs, so
                # every MADE layer is a constant affine map and the flow is a Gaussian; fit it in closed form
                steps = self._train_windows(Z, None)[:, :, self.flow_channels_[0]].ravel()
                self.gaussian_mean_, self.gaussian_std_ = float(steps.mean()), float(max(steps.std(), 1e-6))
                self._record_training(
                    "flow", {"stopped_by": "closed form (one variable: a Gaussian)", "epochs_run": None}
                )
            elif self.has_flow_:
                self.flow_ = build_flow(len(self.flow_channels_), self.nf_blocks, self.nf_hidden, self.nf_layers)
                self.flow_.to(device)
                config = TrainConfig(epochs=self.nf_epochs, batch_size=self.nf_batch_size, lr=self.nf_lr, patience=0)
                windows = self._train_windows(Z, None)
                report = fit_flow(self.flow_, windows, self.flow_channels_, config, rng, generator, device)
                self._record_training("flow", report)
            rec, nll = self._terms(Z)
            self.rec_centre_, self.rec_spread_ = _centre_and_spread(rec)
            self.nll_centre_, self.nll_spread_ = _centre_and_spread(nll) if self.has_flow_ else (0.0, 1.0)
            self.train_scores_ = self._combine(rec, nll)

    def _choose_layout(self, Z: np.ndarray) -> None:
        """Fitted ``image_layout_``, ``period_``, ``window_`` and ``pad_`` for the standardised training series.

        Several channels (or ``univariate_image="rows"``): one image row per variable, the ``window``
        parameter, the period (``period`` or the ACF estimate over lags 2 .. window / 2) only pads.
        One channel with ``univariate_image="periods"``: one image row per period, the period being
        ``period`` or ``estimate_sliding_window`` of the training series (TSB-AD's ACF estimate, 125 when
        it finds none), and the window ``n_periods`` periods, fewer when the training series is shorter
        than 2 windows (at least 2 periods; a period longer than half the series is cut to half).
        """
        n = Z.shape[0]
        if Z.shape[1] == 1 and self.univariate_image == "periods":
            period = int(self.period) if self.period else estimate_sliding_window(Z[:, 0])
            period = max(1, min(period, n // 2))
            rows = int(np.clip(n // (2 * period), 2, self.n_periods))
            self.image_layout_, self.period_, self.window_, self.pad_ = "periods", period, rows * period, 0
            return
        self.image_layout_, self.window_ = "variables", int(self.window)
        self.period_ = int(self.period) if self.period else estimate_period(Z, max(self.window // 2, 2))
        self.pad_ = padding_for_period(self.window, self.period_)

    def _small_config(self) -> MAEConfig:
        return MAEConfig(
            image_size=self.image_size,
            patch_size=self.patch_size,
            embed_dim=self.embed_dim,
            depth=self.depth,
            num_heads=self.num_heads,
            decoder_embed_dim=self.decoder_embed_dim,
            decoder_depth=self.decoder_depth,
            decoder_num_heads=self.decoder_num_heads,
        )

    def _fit_mae(self, Z: np.ndarray, rng: np.random.Generator, device: torch.device) -> dict[str, object]:
        """Masked-patch MSE training of the small MAE on (at most ``max_train_windows``) training windows."""
        windows = torch.as_tensor(self._train_windows(Z, self.max_train_windows))

        def loss_fn(idx: np.ndarray) -> torch.Tensor:
            images, _, _ = self._render(windows[torch.as_tensor(idx)].to(device))
            return self.mae_.masked_loss(images)

        config = TrainConfig(
            epochs=self.mae_epochs, batch_size=self.mae_batch_size, lr=self.mae_lr, time_budget=self.mae_time_budget
        )
        return fit_loop(self.mae_, len(windows), loss_fn, config, rng)

    # ---------------------------------------------------------------------------------------- score
    def _score(self, X: np.ndarray) -> np.ndarray:
        rec, nll = self._terms(standardise(X, self.mean_, self.std_))
        return self._combine(rec, nll)

    @contextlib.contextmanager
    def _scoring(self) -> Iterator[None]:
        """Eval mode on the device, the package's torch threads, no autograd: where every score is computed."""
        device = resolve_device(self.device)
        with torch_threads(), torch.no_grad():
            self.mae_.to(device).eval()
            if self.has_flow_ and len(self.flow_channels_) > 1:
                self.flow_.to(device).eval()
            yield

    def _step_errors(self, batch: np.ndarray) -> np.ndarray:
        """(B, L, N) standardised windows -> (B, L) squared reconstruction error per step (mean over channels)."""
        w = torch.as_tensor(batch, dtype=torch.float32, device=resolve_device(self.device))
        return ((self.reconstruct(w) - w) ** 2).mean(dim=2).double().cpu().numpy()

    def _step_nll(self, Z: np.ndarray) -> np.ndarray:
        """(n, N) standardised rows -> (n,) flow NLL of each row (zeros without a flow)."""
        if not self.has_flow_:
            return np.zeros(Z.shape[0])
        if len(self.flow_channels_) == 1:  # the closed-form Gaussian (see _fit)
            z = (Z[:, self.flow_channels_[0]] - self.gaussian_mean_) / self.gaussian_std_
            return 0.5 * z**2 + np.log(self.gaussian_std_) + 0.5 * np.log(2 * np.pi)
        return flow_nll(self.flow_, Z[:, self.flow_channels_], resolve_device(self.device))

    def _terms(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-step reconstruction error and flow NLL of a standardised (n, N) series."""
        with self._scoring():
            return score_series(self._step_errors, Z, self._window_spec()), self._step_nll(Z)

    def _stream_plan(self) -> StreamPlan:
        """Windowed reconstruction term + per-row flow term, combined per step: ``core.stream`` can follow it."""
        return StreamPlan(
            spec=self._window_spec(),
            standardise=lambda X: standardise(X, self.mean_, self.std_),
            score_windows=self._step_errors,
            scoring=self._scoring,
            step_terms=self._step_nll,
            combine=self._combine,
        )

    def channel_baseline(self) -> np.ndarray:
        return self.mean_

    @torch.no_grad()
    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        """Per-channel reconstruction error ``(y_dec - x)**2`` mapped to steps, (n, C); the flow term is joint
        over channels and has no per-channel part, so it is left out."""
        with torch_threads():
            device = resolve_device(self.device)
            self.mae_.to(device).eval()

            def cell_errors(batch: np.ndarray) -> np.ndarray:
                w = torch.as_tensor(batch, dtype=torch.float32, device=device)
                return ((self.reconstruct(w) - w) ** 2).double().cpu().numpy()  # (B, L, N)

            spec = self._window_spec()
            outputs, starts = window_scores(cell_errors, standardise(X, self.mean_, self.std_), spec)
        return channel_steps(outputs, starts, spec.window, X.shape[0], spec.how)

    def _combine(self, rec: np.ndarray, nll: np.ndarray) -> np.ndarray:
        if self.combine == "paper":
            return self.lambda_rec * rec + (self.lambda_nf * nll if self.has_flow_ else 0.0)
        score = (rec - self.rec_centre_) / self.rec_spread_
        if self.has_flow_:
            score = score + (nll - self.nll_centre_) / self.nll_spread_
        return score
