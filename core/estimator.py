"""The public API: `fit(x, y, method=...) -> Posterior`, `Posterior.sample`, `log_prob`, `save`, `load`."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from .baselines.cvae import CVAENet
from .baselines.dropout import DropoutNet
from .devices import resolve_device
from .diagnostics import OODScorer, calibration_error
from .flows import ConditionalInvertibleNet, InvertibleNet
from .noise import row_normals, row_seed
from .recoverability import recoverability_table
from .training import (INN_STRATEGIES, CINNModule, INNModule, LossModule, PairsDataModule, default_epochs, make_trainer,
                       quiet_lightning, world_size)
from .transforms import BoundedTransform, Standardizer, unbounded

METHODS = ("cinn", "inn", "cvae", "dropout")  # the last two: the paper's baselines (invert.core.baselines)


@dataclass
class NetConfig:
    """Architecture of the invertible network."""

    n_blocks: int = 8
    hidden: int = 128
    depth: int = 2
    alpha: float = 2.0
    actnorm: bool = False
    dz: int | None = None  # INN: latent size (default max(dx - dy, min(dx, 2))); cVAE: default dx
    width: int | None = None  # INN only: total width D >= max(dx, dy + dz)
    summary_dim: int | None = None  # cINN only: learned summary of long y


@dataclass
class TrainConfig:
    """Optimisation settings (Adam with the paper's betas, cosine decay, early stopping)."""

    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    max_epochs: int | None = None
    time_budget_s: float | None = None
    val_fraction: float = 0.1
    patience: int | None = 20
    inn_weights: dict[str, float] = field(default_factory=dict)  # w_y, w_z, w_x, w_rec, y_noise, pad_noise


def build_net(method: str, dx: int, dy: int, cfg: NetConfig, seed: int) -> torch.nn.Module:
    """The network of a method, with a seeded initialization."""
    torch.manual_seed(seed)
    stack = dict(n_blocks=cfg.n_blocks, hidden=cfg.hidden, depth=cfg.depth, alpha=cfg.alpha, actnorm=cfg.actnorm, seed=seed)
    if method == "cinn":
        return ConditionalInvertibleNet(dx, dy, summary_dim=cfg.summary_dim, **stack)
    if method == "cvae":
        return CVAENet(dx, dy, cfg.dz, hidden=cfg.hidden, depth=cfg.depth)
    if method == "dropout":
        return DropoutNet(dx, dy, hidden=cfg.hidden, depth=cfg.depth)
    dz = cfg.dz or max(dx - dy, min(dx, 2))
    return InvertibleNet(dx, dy, dz, width=cfg.width, **stack)


class Posterior:
    """An amortized posterior p(x | y): numpy in, numpy out, parameters in physical units."""

    def __init__(
        self,
        method: str,
        net: torch.nn.Module,
        x_bounds: Sequence[tuple[float, float]],
        x_scaler: Standardizer,
        y_scaler: Standardizer,
        net_config: NetConfig,
        metadata: dict[str, Any] | None = None,
        ood: OODScorer | None = None,
    ):
        self.method = method
        self.net = net.eval()
        self.x_bounds = [tuple(map(float, b)) for b in x_bounds]
        self.bounded = BoundedTransform(self.x_bounds)
        self.x_scaler, self.y_scaler = x_scaler, y_scaler
        self.net_config = net_config
        self.metadata = metadata or {}
        self.ood = ood
        self.device = torch.device("cpu")

    @property
    def dx(self) -> int:
        return self.net.dx

    @property
    def dy(self) -> int:
        return self.net.dy

    @property
    def x_names(self) -> list[str]:
        return list(self.metadata.get("x_names") or [f"x{i}" for i in range(self.dx)])

    def to(self, device: str | torch.device) -> "Posterior":
        """Move the network to a device ("cpu", "cuda", "auto" = best available)."""
        self.device = resolve_device(device)
        self.net.to(self.device)
        return self

    def _y_tensor(self, y: np.ndarray | torch.Tensor) -> torch.Tensor:
        y_t = torch.as_tensor(np.asarray(y, dtype=np.float32) if not torch.is_tensor(y) else y, dtype=torch.float32)
        if y_t.shape[-1] != self.dy:
            raise ValueError(f"observations have {y_t.shape[-1]} features, the model expects {self.dy}")
        return self.y_scaler.forward(y_t.to(self.device).double()).float()

    def sample(
        self, y_obs: np.ndarray | torch.Tensor, n: int, seed: int = 0, rows: Sequence[int] | None = None,
        chunk_rows: int = 1 << 18,
    ) -> np.ndarray:
        """Draw n posterior samples per observation: y (dy,) -> (n, dx); y (B, dy) -> (B, n, dx).

        Observation i's samples depend only on seed and its row number rows[i] (default i; invert.core.noise),
        not on batching or on the other observations: a scan analysed in chunks gives the samples of one pass."""
        return self._sample(y_obs, n, seed, rows, chunk_rows, with_log_prob=False)[0]

    def sample_and_log_prob(
        self, y_obs: np.ndarray, n: int, seed: int = 0, rows: Sequence[int] | None = None, chunk_rows: int = 1 << 18,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The draws of `sample` (B, n, dx) and their log p(x | y) (B, n) from the same pass (cINN only)."""
        if self.method != "cinn":
            raise NotImplementedError("log densities need the cINN (method='cinn')")
        return self._sample(np.atleast_2d(y_obs), n, seed, rows, chunk_rows, with_log_prob=True)

    def draw(self, y_obs: np.ndarray, n: int, seed: int = 0, rows: Sequence[int] | None = None,
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Samples (B, n, dx) of observations y (B, dy) and per-observation diagnostics (none for a network alone)."""
        return self.sample(np.atleast_2d(y_obs), n, seed=seed, rows=rows), {}

    @torch.no_grad()
    def _sample(self, y_obs: np.ndarray | torch.Tensor, n: int, seed: int, rows: Sequence[int] | None, chunk_rows: int,
                with_log_prob: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Samples of `sample` and, if asked, their log densities, chunk_rows draws at a time."""
        y_arr = y_obs if torch.is_tensor(y_obs) else np.asarray(y_obs, dtype=np.float32)
        single = y_arr.ndim == 1
        y_s = self._y_tensor(y_arr.reshape(1, -1) if single else y_arr)
        row_ids = torch.as_tensor(np.arange(len(y_s)) if rows is None else np.asarray(rows), dtype=torch.int64)
        if row_ids.shape != (len(y_s),):
            raise ValueError(f"rows has shape {tuple(row_ids.shape)} for {len(y_s)} observations")
        out = np.empty((y_s.shape[0], n, self.dx), dtype=np.float32)
        log_q = np.empty((y_s.shape[0], n)) if with_log_prob else None
        per_chunk = max(1, chunk_rows // n)
        for start in range(0, y_s.shape[0], per_chunk):
            part = slice(start, start + per_chunk)
            x, lq = self._sample_rows(y_s[part], n, seed, row_ids[part].to(self.device))
            out[part] = x.cpu().numpy()
            if log_q is not None:
                log_q[part] = lq.cpu().numpy()
        return (out[0], None if log_q is None else log_q[0]) if single else (out, log_q)

    def _sample_rows(self, y_s: torch.Tensor, n: int, seed: int, rows: torch.Tensor,
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n posterior draws (B, n, dx) for each row of standardized y (B, dy), with the noise of row numbers rows,
        and for the cINN their log densities (B, n)."""
        b = y_s.shape[0]
        y_rep = y_s.repeat_interleave(n, dim=0)
        log_q = None
        if self.method == "cinn":
            z = row_normals(seed, rows, n, self.dx).reshape(-1, self.dx)
            u_s, log_det_inverse = self.net.inverse(z, y_rep)
            log_q = -0.5 * z.double().square().sum(1) - 0.5 * self.dx * math.log(2 * math.pi) - log_det_inverse.double()
        elif self.method == "inn":  # the INN learned g(y + noise, z): condition on y with the noise of its training
            noise = row_normals(seed, rows, n, self.net.dz + self.dy).reshape(b * n, -1)
            y_noise = float(self.metadata.get("y_noise", 0.0))
            u_s = self.net.inverse(noise[:, : self.net.dz], y_rep + y_noise * noise[:, self.net.dz :])
        else:  # baselines draw their own noise: one generator per row keeps rows independent of batching
            draws = [self.net.sample(y_s[i].expand(n, -1), torch.Generator(device=self.device).manual_seed(row_seed(seed, r)))
                     for i, r in enumerate(rows.tolist())]
            u_s = torch.cat(draws)
        x = self.bounded.inverse(self.x_scaler.inverse(u_s.double()))
        if log_q is not None:  # change of variables z -> standardized u -> u -> x
            log_q = log_q + self.x_scaler.log_abs_det_forward() + self.bounded.log_abs_det_forward(x)
            log_q = log_q.reshape(b, n)
        return x.float().reshape(b, n, self.dx), log_q

    @torch.no_grad()
    def log_prob(self, x: np.ndarray | torch.Tensor, y_obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """log p(x | y) in physical units (cINN only): x (N, dx) with y (N, dy) or one y (dy,)."""
        if self.method != "cinn":
            raise NotImplementedError("log_prob needs the cINN (method='cinn'); the other methods have no tractable density")
        x_t = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(self.device)
        y_arr = np.asarray(y_obs, dtype=np.float32)
        y_s = self._y_tensor(np.broadcast_to(y_arr, (x_t.shape[0], self.dy)).copy())
        u = self.bounded.forward(x_t)
        u_s = self.x_scaler.forward(u).float()
        z, log_det = self.net(u_s, y_s)
        log_pz = -0.5 * z.double().square().sum(1) - 0.5 * self.dx * math.log(2 * math.pi)
        log_jac = log_det.double() + self.x_scaler.log_abs_det_forward() + self.bounded.log_abs_det_forward(x_t)
        return (log_pz + log_jac).cpu().numpy()

    def ood_score(self, y_obs: np.ndarray) -> np.ndarray:
        """Out-of-distribution score of observations (B, dy) relative to the training observations."""
        return self.ood.score(y_obs)

    def is_ood(self, y_obs: np.ndarray) -> np.ndarray:
        """True for observations unlike every training observation (score above the 99.9 % training quantile)."""
        return self.ood.is_ood(y_obs)

    def save(self, path: str) -> None:
        """Write the model bundle (safetensors weights + JSON metadata), atomically."""
        from .bundle import save_bundle

        save_bundle(self, path)


def _clean_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, drop non-finite rows (with a warning) and refuse constant columns."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"x and y must be 2-D arrays (N, dx) and (N, dy); got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    good = np.isfinite(x).all(1) & np.isfinite(y).all(1)
    if not good.all():
        warnings.warn(f"dropped {int((~good).sum())} of {len(good)} training pairs with NaN or inf values", stacklevel=3)
        x, y = x[good], y[good]
    if x.shape[0] < 10:
        raise ValueError(f"only {x.shape[0]} usable training pairs; need at least 10")
    for name, v in (("x", x), ("y", y)):
        const = np.flatnonzero(v.std(0) == 0)
        if const.size:
            raise ValueError(f"{name} column(s) {const.tolist()} are constant; remove them before fitting")
    return x, y


def fit(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    method: str = "cinn",
    x_bounds: Sequence[tuple[float, float]] | None = None,
    seed: int = 0,
    time_budget_s: float | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    net: NetConfig | None = None,
    train: TrainConfig | None = None,
    accelerator: str = "auto",
    devices: int | str = "auto",
    precision: str | int = "32-true",
    num_nodes: int = 1,
    metadata: dict[str, Any] | None = None,
    training: str = "bidirectional",
) -> Posterior:
    """Fit an amortized posterior p(x | y) to simulated pairs; method "cinn" (max. likelihood), "inn" (paper's MMD),
    or the paper's baselines "cvae" (conditional VAE) and "dropout" (MC-dropout regression).

    training (INN only): the paper's strategies "bidirectional", "forward" (L_y + L_z) or "inverse" (L_x).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if training not in INN_STRATEGIES or (method != "inn" and training != "bidirectional"):
        raise ValueError(f"training must be one of {tuple(INN_STRATEGIES)} (INN only), not {training!r}")
    net_cfg = net or NetConfig()
    train_cfg = train or TrainConfig()
    x_np, y_np = _clean_pairs(np.asarray(x), np.asarray(y))
    bounds = list(x_bounds) if x_bounds is not None else unbounded(x_np.shape[1])
    if len(bounds) != x_np.shape[1]:
        raise ValueError(f"x_bounds has {len(bounds)} entries for {x_np.shape[1]} parameters")
    outside = ~np.all([(x_np[:, i] >= lo) & (x_np[:, i] <= hi) for i, (lo, hi) in enumerate(bounds)], axis=0)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} training parameter vectors lie outside x_bounds")

    bounded = BoundedTransform(bounds)
    u = bounded.forward(torch.from_numpy(x_np))
    y_t = torch.from_numpy(y_np)
    x_scaler, y_scaler = Standardizer.fit(u), Standardizer.fit(y_t)
    u_s, y_s = x_scaler.forward(u).float(), y_scaler.forward(y_t).float()

    pl.seed_everything(seed, workers=True, verbose=False)
    data = PairsDataModule(u_s, y_s, train_cfg.batch_size, train_cfg.val_fraction, seed)
    world = world_size(accelerator, devices, num_nodes)
    epochs = max_epochs or train_cfg.max_epochs or default_epochs(len(data.train_set) // world, data.batch_size)
    model_net = build_net(method, x_np.shape[1], y_np.shape[1], net_cfg, seed)
    if method == "cinn":
        module = CINNModule(model_net, train_cfg.lr, train_cfg.weight_decay, epochs)
    elif method in ("cvae", "dropout"):
        module = LossModule(model_net, train_cfg.lr, train_cfg.weight_decay, epochs)
    else:
        module = INNModule(model_net, train_cfg.lr, train_cfg.weight_decay, epochs, strategy=training, **train_cfg.inn_weights)
    with quiet_lightning():
        trainer = make_trainer(
            epochs, time_budget_s or train_cfg.time_budget_s, progress, accelerator, devices, precision, train_cfg.patience,
            gradient_clip=module.gradient_clip, num_nodes=num_nodes,
        )
    t0 = time.perf_counter()
    with quiet_lightning():
        trainer.fit(module, datamodule=data)
    train_time = time.perf_counter() - t0
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    info = {
        "method": method,
        "training": training if method == "inn" else "maximum likelihood" if method == "cinn" else "own loss",
        "seed": seed,
        "n_train": len(data.train_set),
        "n_val": len(data.val_set),
        "epochs_run": trainer.current_epoch,
        "world_size": trainer.world_size,
        "accelerator": type(trainer.accelerator).__name__,
        "precision": str(trainer.precision),
        "train_time_s": round(train_time, 3),
        "val_metrics": metrics,
        "train_config": {**asdict(train_cfg), "max_epochs": epochs},
    }
    if method == "inn":
        info["y_noise"] = module.y_noise  # standardized units; sampling adds it too
    post = Posterior(method, model_net.cpu(), bounds, x_scaler, y_scaler, net_cfg, {**(metadata or {}), **info})
    post.ood = OODScorer.fit(y_np)
    post.metadata["validation"] = validate(post, data, x_scaler, bounded, seed)
    return post


def validate(post: Posterior, data: PairsDataModule, x_scaler: Standardizer, bounded: BoundedTransform, seed: int, n_obs: int = 1024, n_samples: int = 512) -> dict[str, Any]:
    """Calibration error, posterior-median error and recoverability per parameter on held-out pairs."""
    val_u, val_y = data.val_set.x[:n_obs], data.val_set.y[:n_obs]
    x_true = bounded.inverse(x_scaler.inverse(val_u.double())).numpy()
    y_obs = post.y_scaler.inverse(val_y.double()).numpy()
    samples = post.sample(y_obs, n_samples, seed=seed + 1)
    table = recoverability_table(samples, x_true, post.x_names).round(4).reset_index()
    return {
        "n_obs": int(len(x_true)),
        "calibration_error": calibration_error(samples, x_true).round(4).tolist(),
        "median_abs_error": np.median(np.abs(np.median(samples, axis=1) - x_true), axis=0).round(6).tolist(),
        "recoverability": {"n_obs": int(len(x_true)), "table": table.to_dict(orient="list")},
    }
