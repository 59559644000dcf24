"""The GenIAS anomaly generator: a TCN-VAE trained on normal windows, anomalies from a perturbed latent.

Pipeline (paper Algorithms 1 and 2): standardise channels with the training mean and std, cut strided
training windows, train the TCN-VAE with ``alpha * recon + beta * perturb + gamma * zero_perturb +
zeta * compact_KL`` (Eq. 6, weights of the paper's Table 6), then for each normal window decode the
perturbed latent ``z~ = mu + psi * sigma * eps`` and patch the channels that deviate enough.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from anomalyforge.core.base import RANDOM_STATE, BaseGenerator, GeneratedAnomalies, GeneratorTags
from anomalyforge.core.registry import GENERATORS
from anomalyforge.core.validation import Interval, Options, check_is_fitted, check_series, training_constraints
from anomalyforge.core.windows import sliding_windows
from anomalyforge.generators.genias.channels import ChannelCoding, detect_channel_kinds
from anomalyforge.generators.genias.model import (
    GenIASNet,
    compact_kl,
    decoded_mean,
    deviation_patch_mask,
    perturbation_loss,
    receptive_field_layers,
    reconstruction_error,
    window_distance,
    zero_perturbation_loss,
)
from anomalyforge.generators.genias.temporal import temporal_length
from anomalyforge.nn.training import TrainConfig, fit_loop, resolve_device, seed_torch, torch_threads

__all__ = ["GenIASGenerator"]

#: TCN layers of the temporal latent's encoder when ``n_layers`` is None (receptive field 31 steps)
TEMPORAL_LAYERS = 4

_POSITIVE = Interval(int, 1, None)
_STRICTLY_POSITIVE = Interval(float, 0.0, None, "neither")
_NON_NEGATIVE = Interval(float, 0.0, None)

_TEST_PARAMS = {
    "window": 32,
    "latent_channels": 2,
    "hidden_channels": 4,
    "epochs": 2,
    "max_train_windows": 64,
    "random_state": 0,
}


@GENERATORS.register("genias", test_params=_TEST_PARAMS)
class GenIASGenerator(BaseGenerator):
    """GenIAS: learned latent-perturbation anomalies from a TCN-VAE (Darban et al.).

    Args:
        window: window length T the model is trained on and generates (paper: 200). ``generate`` takes
            windows of exactly this length.
        latent: ``"temporal"`` (default): the latent keeps the time axis, ``latent_channels`` numbers per
            pair of steps (``genias.temporal``; L = latent_channels * ceil(window / 2)); ``"flat"``: one
            vector of ``latent_dim`` numbers per window, as in the paper. With the flat latent the VAE
            reconstructed held-out SMD and MSL training windows no better than each window's channel means
            (ratio 0.9-1.2, bench/bench_genias_vae.py); Eq. 1-6 apply unchanged to either.
        latent_channels: latent numbers per latent step of the temporal latent.
        latent_dim: flat latent size L; None means 50 for one channel and 100 for several (paper Table 6).
            Only for ``latent="flat"`` (setting it with the temporal latent is an error).
        hidden_channels: channels of the TCN and of the decoder's transposed convolutions.
        n_layers: TCN layers with dilations 1, 2, 4, ...; None means, for the flat latent, the fewest whose
            causal receptive field covers the window (7 for T=200), and for the temporal latent
            ``TEMPORAL_LAYERS`` (each latent step needs only its neighbourhood, not the whole window).
        kernel_size: TCN kernel size (paper: 3).
        dropout: TCN dropout (paper: 0.1).
        n_upsample: stride-2 transposed convolutions in the flat latent's decoder (the linear layer
            produces ceil(T / 2^n_upsample) steps); the temporal decoder always upsamples once.
        psi_mode: ``"scalar"`` (default: one learned psi, as in Eq. 1 ``psi * (sigma * eps)`` and the
            paper's proof, where psi scales the whole variance; the perturbation loss constrains one
            distance per window, so a single scale is what it can identify) or ``"per_dim"`` (one psi per
            latent dimension).
        psi_init: initial psi (> 0); psi = softplus(free parameter) stays positive.
        psi_lr_scale: psi's learning rate is ``lr * psi_lr_scale``. Adam moves a parameter by about lr per
            step, and a CPU budget allows a few hundred steps, so with the network's rate psi could move by
            well under 1; on UCR BIDMC1 (60 s, 11 epochs) psi went from 1.0 only to 1.09 while the
            anomalies stayed at MSE 0.08 from X, below the delta_min band the loss asks for.
        prior_var: sigma_prior^2 of the compact KL prior N(0, prior_var) (paper: 0.5; its Table 6 lists
            sigma_prior = 0.5 but Sec. 4.8 and Fig. 6 vary the prior *variance*, best at 0.5: read as variance).
        delta_min: perturbation-loss margin by which an anomaly must be farther from X than the
            reconstruction (paper: 0.1; distances are mean squared errors in standardised units).
        delta_max: largest anomaly distance before the loss penalises it (paper: 0.2).
        alpha: weight of the reconstruction loss (paper: 1.0).
        beta: weight of the perturbation loss (paper: 0.1).
        gamma: weight of the zero-perturbation loss; None means 0 for one channel and 0.01 for several.
        zeta: weight of the compact KL loss (paper: 0.1).
        kl_reduction: how the per-dimension KL is reduced: ``"per_cell"`` (default: summed over the L
            latent dimensions as in Eq. 2, divided by the T * D cells the reconstruction error averages
            over, so the loss is a per-cell ELBO whose decoder noise variance is zeta / 2 in standardised
            units, whatever T, D and L), ``"mean"`` (averaged over L) or ``"sum"``. With ``"mean"`` the
            implied noise variance is zeta * T * D / (2 L), above the data's own variance for T=200 and a
            few dozen channels, so the optimum ignores z (chosen with bench/bench_genias_vae.py).
        tau: patching threshold factor: channel d is taken from the anomaly when
            ``||X_d - X~_d||^2 / T > tau * (max X_d - min X_d)`` in standardised units (see
            ``patch_per_step``).
        patch_per_step: True (default) divides the squared norm of Algorithm 2 by T; False is the
            paper's literal sum over the T steps. With the sum, T=200 standardised steps and tau=0.2
            nearly every channel passes (any generated channel deviating by RMS > 0.03 * sqrt(amplitude)),
            so patching keeps nothing of the source. Decided again on the dev series
            (bench/bench_genias_quality.py --dev, same run, the other defaults as they are): per-step ARP /
            EDI rank 4.00 / 4.00, literal sum 4.29 / 3.86 (first chosen on SMD machine-1-2, whose test labels
            ARP reads: a quick-suite series, so that choice did not count).
        forge: ``"residual"`` (default) or ``"decoded"`` (the paper): a decoded forgery is the decoder's
            output for the perturbed latent; a ``"residual"`` one is the source window plus the change the
            perturbation makes to the decoder's output (decoded perturbed latent minus decoded posterior
            mean), so it keeps the window's own texture and differs from it only by the learned perturbation
            (decoded forgeries lose what the VAE does not reconstruct: step-to-step detail).
        perturb_scale: at generation, each window's eps is multiplied by a factor drawn uniformly from
            [1, perturb_scale] (1: the paper's z~ = mu + psi * sigma * eps exactly); larger values forge
            stronger and more varied deviations than the training-time margin band.
        perturb_span: at generation, which latent steps the perturbation touches (temporal latent only):
            ``"window"`` (the paper: all of them) or ``"segment"``: one contiguous run of latent steps per
            window, of a length drawn uniformly from 10 % to 90 % of the window (the span CARLA's injections
            use), eps zero elsewhere; with ``forge="residual"`` the forged window is then the source outside
            the segment and a learned deviation inside it, as a real anomaly is local in time.
        discrete: detect the channel kinds in the training series: a one-valued channel is kept out of the
            network and decoded as its value; a two-valued channel (0/1 command flags) is modelled by
            Bernoulli logits (BCE reconstruction) and forged anomalies take exactly its two values, so
            patching never writes anything else there. False: every channel is continuous (standardised,
            MSE), as in the paper; forged flags are then real numbers.
        max_patch_redraws: windows where no channel passes the patching rule get a fresh eps up to this
            many times; after that the channel with the largest deviation/amplitude is taken, so every
            window always changes in at least one whole channel. For one channel the paper's rule would
            return the unchanged window (no anomaly); here such windows are redrawn, then kept whole.
        epochs: most training epochs (paper: up to 1000).
        batch_size: windows per step (paper: 100; 32 here: a CPU budget allows few epochs, and three times
            the optimiser steps per epoch learned more per epoch at ~20% more seconds per epoch).
        lr: Adam learning rate (paper: 1e-4 with a schedule over up to 1000 GPU epochs; 3e-3 here:
            on UCR BIDMC1 six epochs took the reconstruction MSE to 0.75 with 1e-3 and to 0.24 with
            3e-3, and a CPU time budget allows tens of epochs, not a thousand).
        patience: epochs without validation improvement before stopping.
        val_fraction: share of training windows held out for early stopping.
        val_split: which: ``"random"`` windows, or ``"tail"``, the last ones in time after a gap of one
            window (``nn.training.TrainConfig``: overlapping windows make a random split leak).
        time_budget: wall seconds of training (None: no limit).
        stride: step between training windows; None picks the smallest stride giving at most
            ``max_train_windows`` windows.
        max_train_windows: cap on training windows when ``stride`` is None.
        random_state: seed of initialisation and training noise.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.

    Fitted attributes: ``model_`` (GenIASNet), ``mean_``/``std_`` (C,), ``latent_dim_``, ``n_layers_``,
    ``gamma_``, ``constant_``/``binary_`` (C,) bool channel kinds, ``low_``/``high_`` (C,),
    ``stride_``, ``n_train_windows_``, ``psi_`` (list), ``train_report_`` (epochs_run,
    seconds, stopped_by, ...), ``train_losses_`` (loss terms on the training windows after fitting).

    Reconstruction (bench/bench_genias_vae.py, held-out last 15 % of each training part, VAE MSE over the
    MSE of each window's channel mean, default budget, 2026-12-02): the flat latent stayed at 0.9-1.2 on SMD
    and MSL; the temporal latent reaches SMD 0.27 / 0.36, MSL 0.17 / 0.21, GECCO 0.12, UCR 0.01 / 0.003,
    NAB 0.64 / 0.008 (machine_temperature's windows are nearly flat: the mean already leaves MSE 0.03).

    Generation defaults (``forge="residual"``, ``perturb_span="segment"``, ``perturb_scale=3``) were chosen on
    the dev series of bench/bench_genias_quality.py (``--dev``: 6 UCR series outside the quick suite and a
    TSB-AD NAB file, GenIAS budget 60 s) by ARP and EDI rank among five generators: the paper's decoded
    whole-window perturbation ranked 5.00 / 5.00 (last on every series); residual 5.00 / 4.86; segment +
    residual 4.14 / 5.00; segment + residual + scale 3 4.14 / 4.00; larger delta bands (0.5-1.0, 1.0-2.0)
    lowered ARP (UCR 0.19, 0.12 against 0.40).
    """

    tags: ClassVar[GeneratorTags] = GeneratorTags(
        requires_training=True, multivariate=True, min_window=8, uses_torch=True
    )
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 8, None)],  # tags.min_window
        "latent": [Options(("temporal", "flat"))],
        "latent_channels": [_POSITIVE],
        "latent_dim": [None, _POSITIVE],
        "hidden_channels": [_POSITIVE],
        "n_layers": [None, _POSITIVE],
        "kernel_size": [_POSITIVE],
        "dropout": [Interval(float, 0.0, 1.0, "left")],
        "n_upsample": [Interval(int, 0, None)],
        "psi_mode": [Options(("scalar", "per_dim"))],
        "psi_init": [_STRICTLY_POSITIVE],
        "psi_lr_scale": [_STRICTLY_POSITIVE],
        "prior_var": [_STRICTLY_POSITIVE],
        "delta_min": [_NON_NEGATIVE],
        "delta_max": [_STRICTLY_POSITIVE],
        "alpha": [_NON_NEGATIVE],
        "beta": [_NON_NEGATIVE],
        "gamma": [None, _NON_NEGATIVE],
        "zeta": [_NON_NEGATIVE],
        "kl_reduction": [Options(("per_cell", "mean", "sum"))],
        "tau": [_NON_NEGATIVE],
        "patch_per_step": [bool],
        "forge": [Options({"decoded", "residual"})],
        "val_split": [Options({"random", "tail"})],
        "perturb_scale": [Interval(float, 1.0, None)],
        "perturb_span": [Options(("window", "segment"))],
        "discrete": [bool],
        "max_patch_redraws": [Interval(int, 0, None)],
        "epochs": [_POSITIVE],
        "batch_size": [_POSITIVE],
        "lr": [_STRICTLY_POSITIVE],
        **training_constraints("patience", "val_fraction"),
        "time_budget": [None, _STRICTLY_POSITIVE],
        "stride": [None, _POSITIVE],
        "max_train_windows": [_POSITIVE],
        "random_state": RANDOM_STATE,
        "device": [Options(("auto", "cpu", "cuda")), str],
    }

    def __init__(
        self,
        window: int = 200,
        latent: str = "temporal",
        latent_channels: int = 8,
        latent_dim: int | None = None,
        hidden_channels: int = 16,
        n_layers: int | None = None,
        kernel_size: int = 3,
        dropout: float = 0.1,
        n_upsample: int = 3,
        psi_mode: str = "scalar",
        psi_init: float = 1.0,
        psi_lr_scale: float = 10.0,
        prior_var: float = 0.5,
        delta_min: float = 0.1,
        delta_max: float = 0.2,
        alpha: float = 1.0,
        beta: float = 0.1,
        gamma: float | None = None,
        zeta: float = 0.1,
        kl_reduction: str = "per_cell",
        tau: float = 0.2,
        patch_per_step: bool = True,
        forge: str = "residual",
        perturb_scale: float = 3.0,
        perturb_span: str = "segment",
        discrete: bool = True,
        max_patch_redraws: int = 3,
        epochs: int = 100,
        batch_size: int = 32,
        lr: float = 3e-3,
        patience: int = 10,
        val_fraction: float = 0.1,
        val_split: str = "random",
        time_budget: float | None = 120.0,
        stride: int | None = None,
        max_train_windows: int = 1000,
        random_state: int | None = None,
        device: str = "auto",
    ) -> None:
        self.window = window
        self.latent = latent
        self.latent_channels = latent_channels
        self.latent_dim = latent_dim
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.n_upsample = n_upsample
        self.psi_mode = psi_mode
        self.psi_init = psi_init
        self.psi_lr_scale = psi_lr_scale
        self.prior_var = prior_var
        self.delta_min = delta_min
        self.delta_max = delta_max
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.zeta = zeta
        self.kl_reduction = kl_reduction
        self.tau = tau
        self.patch_per_step = patch_per_step
        self.forge = forge
        self.perturb_scale = perturb_scale
        self.perturb_span = perturb_span
        self.discrete = discrete
        self.max_patch_redraws = max_patch_redraws
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.val_split = val_split
        self.time_budget = time_budget
        self.stride = stride
        self.max_train_windows = max_train_windows
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------------------------ helpers
    @staticmethod
    def ceil_len(window: int, n_upsample: int) -> int:
        return -(-window // 2**n_upsample)

    def _make_net(self, n_channels: int) -> GenIASNet:
        return GenIASNet(
            n_channels=n_channels,
            window=int(self.window),
            latent_dim=self.latent_dim_,
            hidden=int(self.hidden_channels),
            n_layers=self.n_layers_,
            kernel_size=int(self.kernel_size),
            dropout=float(self.dropout),
            n_upsample=int(self.n_upsample),
            psi_mode=self.psi_mode,
            psi_init=float(self.psi_init),
            latent=self.latent,
            latent_channels=int(self.latent_channels),
        )

    def _build_modules(self) -> None:
        self.model_ = self._make_net(int((~self.constant_).sum()))

    def _coding(self) -> ChannelCoding:
        return ChannelCoding(self.mean_, self.std_, self.constant_, self.binary_, self.low_, self.high_)

    def _binary_tensor(self, device: torch.device | str = "cpu") -> torch.Tensor | None:
        b = self._coding().binary_model
        return torch.from_numpy(b).to(device) if b.any() else None

    def _train_stride(self, n: int) -> int:
        if self.stride is not None:
            return int(self.stride)
        n_windows = n - int(self.window) + 1
        return max(1, -(-n_windows // max(1, int(self.max_train_windows))))

    # ---------------------------------------------------------------------------------------- fit
    def min_series_length(self) -> int:
        return int(self.window)

    def default_window(self) -> int:
        return int(self.window)

    def _fit(self, X: np.ndarray) -> None:
        n, c = X.shape
        temporal = self.latent == "temporal"
        if temporal and self.latent_dim is not None:
            raise ValueError(
                f"latent_dim={self.latent_dim} sets the size of the flat latent; the temporal latent has "
                f"latent_channels x ceil(window / 2) numbers: set latent='flat' to use latent_dim, or drop it"
            )
        if temporal:
            self.latent_dim_ = int(self.latent_channels) * temporal_length(int(self.window))
        else:
            self.latent_dim_ = int(self.latent_dim) if self.latent_dim is not None else (50 if c == 1 else 100)
        if self.n_layers is not None:
            self.n_layers_ = int(self.n_layers)
        elif temporal:
            self.n_layers_ = TEMPORAL_LAYERS
        else:
            self.n_layers_ = receptive_field_layers(int(self.window), int(self.kernel_size))
        self.gamma_ = float(self.gamma) if self.gamma is not None else (0.0 if c == 1 else 0.01)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.std_ = np.where(std > 1e-8 * np.maximum(1.0, np.abs(self.mean_)), std, 1.0)
        self.constant_, self.binary_, self.low_, self.high_ = detect_channel_kinds(X, bool(self.discrete))
        coding = self._coding()
        self.stride_ = self._train_stride(n)
        raw_view, _ = sliding_windows(X, int(self.window), self.stride_)
        self.n_train_windows_ = int(len(raw_view))
        # (N, D_model): the network's channels that are all zero in the raw window
        zero_mask = np.abs(raw_view).max(axis=1)[:, coding.model_channels] == 0
        data = coding.encode(raw_view)

        rng = np.random.default_rng(self.random_state)
        device = resolve_device(self.device)
        with torch_threads():
            gen = seed_torch(int(rng.integers(2**31 - 1)))
            if device.type != "cpu":
                gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**31 - 1)))
            self.model_ = self._make_net(data.shape[1]).to(device)
            binary = self._binary_tensor(device)
            x_all = torch.from_numpy(data).to(device)
            z_all = torch.from_numpy(zero_mask).to(device)

            def loss_fn(idx: np.ndarray) -> torch.Tensor:
                return self._loss_terms(x_all[idx], z_all[idx], gen, binary)["total"]

            config = TrainConfig(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                patience=self.patience,
                val_fraction=self.val_fraction,
                val_split=self.val_split,
                val_gap=-(-int(self.window) // self.stride_),
                time_budget=self.time_budget,
            )
            psi = [self.model_.psi_raw]
            rest = [p for n_, p in self.model_.named_parameters() if n_ != "psi_raw"]
            groups = [{"params": rest}, {"params": psi, "lr": float(self.lr) * float(self.psi_lr_scale)}]
            optimizer = torch.optim.Adam(groups, lr=float(self.lr))
            report = fit_loop(self.model_, len(data), loss_fn, config, rng, optimizer=optimizer)
            with torch.no_grad():
                chunks = range(0, len(data), 256)
                terms = [self._loss_terms(x_all[i : i + 256], z_all[i : i + 256], gen, binary) for i in chunks]
        self.model_.cpu().eval()
        sizes = [min(256, len(data) - i) for i in chunks]
        self.train_losses_ = {
            k: round(sum(float(t[k]) * s for t, s in zip(terms, sizes, strict=True)) / len(data), 6) for k in terms[0]
        }
        self.train_report_ = report.as_dict()
        self.psi_ = [float(v) for v in self.model_.psi.detach()]

    def _loss_terms(
        self, x: torch.Tensor, zero_mask: torch.Tensor, gen: torch.Generator, binary: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Eq. 6 on a batch x (B, D_model, T); returns the weighted total and every term (batch means).

        Distances and the reconstruction error are means over all D channels (the constant ones, left out
        of the network, add zero), so the delta band means what it means in the paper.
        """
        out_hat, out_tilde, mu, logvar = self.model_(x, gen)
        scale = x.shape[1] / len(self.mean_)
        x_hat, x_tilde = decoded_mean(out_hat, binary), decoded_mean(out_tilde, binary)
        d_recon = window_distance(x, x_hat, scale)
        u = (x - x_tilde).pow(2)  # computed once for both terms that need it (elementwise (B, D, T) ops dominate)
        d_anom = u.flatten(1).mean(dim=1) * scale
        terms = {
            "recon": reconstruction_error(x, out_hat, binary, scale).mean() if binary is not None else d_recon.mean(),
            "perturb": perturbation_loss(d_recon, d_anom, self.delta_min, self.delta_max).mean(),
            "zero_perturb": zero_perturbation_loss(x, x_tilde, zero_mask, sq_diff=u).mean(),
            "kl": self._kl(mu, logvar, x.shape[2]),
            "d_anomaly": d_anom.detach().mean(),
        }
        terms["total"] = (
            self.alpha * terms["recon"]
            + self.beta * terms["perturb"]
            + self.gamma_ * terms["zero_perturb"]
            + self.zeta * terms["kl"]
        )
        return terms

    def _kl(self, mu: torch.Tensor, logvar: torch.Tensor, window: int) -> torch.Tensor:
        """Batch mean of the compact KL, reduced over the latent dimensions as ``kl_reduction`` says."""
        if self.kl_reduction == "per_cell":
            return compact_kl(mu, logvar, self.prior_var, "sum").mean() / (window * len(self.mean_))
        return compact_kl(mu, logvar, self.prior_var, self.kl_reduction).mean()

    # ----------------------------------------------------------------------------------- generate
    @torch.no_grad()
    def _decode_anomalies(self, xm: np.ndarray, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Model-space windows (N, D_model, T) -> raw anomalies (N, T, C) from perturbed latents.

        ``forge="decoded"``: the decoded perturbed latent itself (the paper). ``forge="residual"``: the
        source window plus what the perturbation changes in the decoder's output (decoded perturbed minus
        decoded posterior mean), so the forgery keeps the window's own detail; on binary channels the
        source value flips where the two decodings differ. Binary channels take their two values, constant
        channels their value.
        """
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        residual = self.forge == "residual"
        tilde, hat = [], []
        for i in range(0, len(xm), 256):
            mu, logvar = self.model_.encoder(torch.from_numpy(xm[i : i + 256]))
            eps = torch.randn(mu.shape, generator=gen)
            if self.perturb_scale != 1.0:
                eps = eps * (1.0 + (float(self.perturb_scale) - 1.0) * torch.rand(len(mu), 1, generator=gen))
            if self.perturb_span == "segment" and self.latent == "temporal":
                eps = eps * self._segment_mask(len(mu), gen)
            tilde.append(self.model_.decoder(self.model_.perturbed_latent(mu, logvar, eps)).numpy())
            if residual:
                hat.append(self.model_.decoder(mu).numpy())
        coding = self._coding()
        forged = coding.decode(np.concatenate(tilde), threshold=True)
        if not residual:
            return forged
        base = coding.decode(np.concatenate(hat), threshold=True)
        out = windows + (forged - base)
        b = coding.binary
        if b.any():
            flip = forged[..., b] != base[..., b]
            lo, hi = coding.low[b], coding.high[b]
            src = windows[..., b]
            out[..., b] = np.where(flip, np.where(src >= 0.5 * (lo + hi), lo, hi), src)
        out[..., coding.constant] = windows[..., coding.constant]
        return out

    def _segment_mask(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, L) 0/1 mask of one contiguous run of latent steps per window (10-90 % of them), every latent
        channel alike (the flattened temporal latent is channel-major: index c * T_lat + t)."""
        t_lat = temporal_length(int(self.window))
        length = torch.clamp((t_lat * (0.1 + 0.8 * torch.rand(n, generator=gen))).round().long(), 1, t_lat)
        start = (torch.rand(n, generator=gen) * (t_lat - length + 1)).long()
        steps = torch.arange(t_lat)[None, :]
        inside = ((steps >= start[:, None]) & (steps < (start + length)[:, None])).float()  # (n, T_lat)
        return inside.repeat(1, int(self.latent_channels))

    def _check_window_length(self, windows: np.ndarray) -> None:
        if windows.shape[1] != int(self.window):
            raise ValueError(
                f"windows have {windows.shape[1]} steps, this GenIAS model was trained on windows of "
                f"{self.window}; cut windows of that length (or fit a model with window={windows.shape[1]})"
            )

    def reconstruct(self, windows: Any) -> np.ndarray:
        """Decode each window's posterior mean (no sampling): the VAE's reconstruction, in original units.

        Binary channels give their expected value (low + p * (high - low)), constant channels their value.

        Args:
            windows: (n, window, C) windows (or (n, window) for one channel).

        Returns:
            (n, window, C) reconstructions.
        """
        check_is_fitted(self)
        w = np.asarray(windows, dtype=np.float64)
        w = w[..., None] if w.ndim == 2 else w
        self._check_window_length(w)
        coding = self._coding()
        xm = coding.encode(w)
        out = []
        with torch_threads(), torch.no_grad():
            self.model_.cpu().eval()
            for i in range(0, len(xm), 256):
                out.append(self.model_.decoder(self.model_.encoder(torch.from_numpy(xm[i : i + 256]))[0]).numpy())
        return coding.decode(np.concatenate(out), threshold=False)

    def _generate(self, windows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self._check_window_length(windows)
        coding = self._coding()
        xm, xs = coding.encode(windows), coding.standardise(windows)
        tau, per_step = float(self.tau), bool(self.patch_per_step)
        with torch_threads():
            self.model_.cpu().eval()
            anomalies = self._decode_anomalies(xm, windows, rng)
            keep, ratio = deviation_patch_mask(xs, coding.standardise(anomalies), tau, per_step)
            for _ in range(int(self.max_patch_redraws)):
                todo = np.flatnonzero(~keep.any(axis=1))
                if not len(todo):
                    break
                anomalies[todo] = self._decode_anomalies(xm[todo], windows[todo], rng)
                keep[todo], ratio[todo] = deviation_patch_mask(
                    xs[todo], coding.standardise(anomalies[todo]), tau, per_step
                )
        none = np.flatnonzero(~keep.any(axis=1))
        keep[none, np.argmax(ratio[none], axis=1)] = True  # guarantee: at least one whole channel changes
        patched = np.where(keep[:, None, :], anomalies, windows)
        return anomalies, patched

    def generate_from_series(self, series: Any, n: int = 1, random_state: Any = None) -> GeneratedAnomalies:
        """Generate ``n`` anomalies from windows drawn at random start positions of a normal series.

        Args:
            series: (n_timesteps, n_channels) normal series with at least ``window`` steps.
            n: number of anomalies (one per drawn window).
            random_state: seed or Generator.

        Returns:
            ``GeneratedAnomalies`` whose ``source`` holds each window's start index in ``series``.
        """
        check_is_fitted(self)
        X = check_series(series, name="series", min_length=int(self.window))
        rng = np.random.default_rng(random_state)
        starts = rng.integers(0, X.shape[0] - int(self.window) + 1, size=int(n))
        windows = np.stack([X[s : s + int(self.window)] for s in starts])
        out = self.generate(windows, 1, rng)
        out.source = starts[out.source]
        return out
