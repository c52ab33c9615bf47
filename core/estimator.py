"""Fitting: `fit(x, y, method=...) -> Posterior` (invert.core.posterior), with the training settings `TrainConfig`."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .diagnostics import OODScorer, calibration_error
from .nets import METHODS, NetConfig, build_net, resolved
from .posterior import Posterior
from .recoverability import recoverability_table
from .training import (
    INN_LOSSES,
    INN_STRATEGIES,
    CINNModule,
    INNModule,
    LossModule,
    PairsDataModule,
    default_epochs,
    make_trainer,
    quiet_lightning,
    seed_everything,
    training_loggers,
    world_size,
)
from .transforms import BoundedTransform, Standardizer, unbounded

__all__ = ["fit", "TrainConfig", "Posterior", "NetConfig", "METHODS", "build_net"]


FLOAT32_EPS = float(np.finfo(np.float32).eps)  # relative rounding of float32 simulations
MIN_TRAINING_PAIRS = 10  # fewer usable (finite) pairs cannot be split into training and validation


@dataclass
class TrainConfig:
    """Optimisation settings: Adam, a cosine learning-rate decay over the whole fit (its steps or its time budget,
    whichever ends first), about 8,000 steps (training.default_epochs), the weights of the best validation loss."""

    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    max_epochs: int | None = None  # None: from the number of pairs (training.default_epochs)
    time_budget_s: float | None = None
    val_fraction: float = 0.1
    patience: int | None = None  # epochs without a better validation loss before stopping; None: never stop early
    inn_weights: dict[str, float] = field(default_factory=dict)  # w_y, w_z, w_x, w_rec, w_ml, y_noise, pad_noise


def inn_sizes(dx: int, dy: int, cfg: NetConfig, loss: str) -> NetConfig:
    """The INN's latent size and width where cfg leaves them open: for "paper+ml" z as wide as x and one padding
    input per observation (the nuisance variables that carry its noise: D = dx + dy); for "paper" build_net's."""
    if loss == "paper":
        return cfg
    dz = cfg.dz or dx
    return replace(cfg, dz=dz, width=cfg.width or max(dx, dz) + dy)


def _is_whole_number(value: Any, lo: int, hi: float = math.inf) -> bool:
    """Whether value is an int (not a bool) in [lo, hi)."""
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value < hi


def _onto_bounds(x: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray:
    """x with values that float32 rounding put just beyond a finite bound (float32(pi / 2) > pi / 2) set onto it;
    ValueError for rows outside by more."""
    lo, hi = (np.array(b, dtype=np.float64) for b in zip(*bounds))
    slack_lo, slack_hi = (np.where(np.isfinite(b), FLOAT32_EPS * np.maximum(1.0, np.abs(b)), 0.0) for b in (lo, hi))
    outside = ((x < lo - slack_lo) | (x > hi + slack_hi)).any(axis=1)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} training parameter vectors lie outside x_bounds")
    return np.clip(x, lo, hi)


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
        warnings.warn(
            f"dropped {int((~good).sum())} of {len(good)} training pairs with NaN or inf values", stacklevel=3
        )
        x, y = x[good], y[good]
    if x.shape[0] < MIN_TRAINING_PAIRS:
        raise ValueError(f"only {x.shape[0]} usable training pairs; need at least {MIN_TRAINING_PAIRS}")
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
    log_dir: str | Path | None = None,
    loss: str | None = None,
    ensemble: int | None = None,
    n_nuisance: int = 0,
) -> Posterior:
    """Fit an amortized posterior p(x | y) to simulated pairs; method "cinn" (max. likelihood), "inn" (paper's MMD),
    or the paper's baselines "cvae" (conditional VAE) and "dropout" (MC-dropout regression).

    training (INN only): the paper's strategies "bidirectional", "forward" (L_y + L_z) or "inverse" (L_x).
    loss (INN only, invert.core.training.INN_LOSSES): "paper+ml" (the default: the paper's terms plus a
    maximum-likelihood term, unit-normal padding and the y noise estimated from the data) or "paper" (the paper's
    loss exactly); stored as metadata["loss"].
    ensemble (cINN only): K > 1 networks from seeds seed, seed + 1, ... trained side by side; the posterior is their
    equal mixture (invert.core.ensemble), K times the training cost; overrides net.ensemble.
    n_nuisance: the last n_nuisance columns of x are the simulator's own noise variables, drawn with each pair
    (invert.core.problem.NoiseVariables), so that y is a function of all of x: the network learns their joint
    posterior with the parameters and the returned posterior marginalizes them (its samples, names and checks cover
    the first dx - n_nuisance columns; no log_prob). For the INN this makes the observation noise part of x.
    log_dir: a folder for the training history (invert.core.training.training_loggers): metrics.csv with one row per
    epoch (train_loss, val_loss and, for the INN, each loss term), hparams.yaml and, where tensorboard is installed,
    TensorBoard events; an earlier run's history there is replaced. None (the default) keeps no history.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if training not in INN_STRATEGIES or (method != "inn" and training != "bidirectional"):
        raise ValueError(f"training must be one of {tuple(INN_STRATEGIES)} (INN only), not {training!r}")
    if method == "inn" and loss is None:
        loss = "paper+ml"
    if method != "inn" and loss is not None or method == "inn" and loss not in INN_LOSSES:
        raise ValueError(f"loss must be one of {tuple(INN_LOSSES)} (INN only), not {loss!r}")
    train_cfg = train or TrainConfig()
    x_np, y_np = _clean_pairs(np.asarray(x), np.asarray(y))
    if not _is_whole_number(n_nuisance, 0, x_np.shape[1]):
        raise ValueError(f"n_nuisance must be a whole number in [0, {x_np.shape[1]}) (x's columns), not {n_nuisance!r}")
    net_cfg = net or NetConfig()
    if ensemble is not None:
        if not _is_whole_number(ensemble, 1):
            raise ValueError(f"ensemble must be a whole number >= 1, not {ensemble!r}")
        net_cfg = replace(net_cfg, ensemble=ensemble)
    net_cfg = resolved(method, net_cfg)
    if method == "inn":
        net_cfg = inn_sizes(x_np.shape[1], y_np.shape[1], net_cfg, loss)
    bounds = list(x_bounds) if x_bounds is not None else unbounded(x_np.shape[1])
    if len(bounds) != x_np.shape[1]:
        raise ValueError(f"x_bounds has {len(bounds)} entries for {x_np.shape[1]} parameters")
    x_np = _onto_bounds(x_np, bounds)
    names = (metadata or {}).get("x_names")
    if names is not None and len(names) != x_np.shape[1] - n_nuisance:
        raise ValueError(f"metadata x_names has {len(names)} names for {x_np.shape[1] - n_nuisance} parameters")

    bounded = BoundedTransform(bounds)
    u = bounded.forward(torch.from_numpy(x_np))
    y_t = torch.from_numpy(y_np)
    x_scaler, y_scaler = Standardizer.fit(u), Standardizer.fit(y_t)
    u_s, y_s = x_scaler.forward(u).float(), y_scaler.forward(y_t).float()

    seed_everything(seed)
    data = PairsDataModule(u_s, y_s, train_cfg.batch_size, train_cfg.val_fraction, seed)
    world = world_size(accelerator, devices, num_nodes)
    epochs = max_epochs or train_cfg.max_epochs or default_epochs(len(data.train_set) // world, data.batch_size)
    model_net = build_net(method, x_np.shape[1], y_np.shape[1], net_cfg, seed)
    if method == "cinn":
        module = CINNModule(model_net, train_cfg.lr, train_cfg.weight_decay)
    elif method in ("cvae", "dropout"):
        module = LossModule(model_net, train_cfg.lr, train_cfg.weight_decay)
    else:
        module = INNModule(
            model_net,
            train_cfg.lr,
            train_cfg.weight_decay,
            epochs,
            strategy=training,
            loss=loss,
            **train_cfg.inn_weights,
        )
    training_name = training if method == "inn" else "maximum likelihood" if method == "cinn" else "own loss"
    loggers = training_loggers(log_dir) if log_dir is not None else None
    if loggers:  # Lightning writes these to hparams.yaml (and TensorBoard) as the fit starts
        module.save_hyperparameters(
            {
                "method": method,
                "training": training_name,
                "loss": loss,
                "seed": seed,
                "n_train": len(data.train_set),
                "n_val": len(data.val_set),
                **asdict(train_cfg),
                "max_epochs": epochs,
            }
        )
    with quiet_lightning():
        trainer = make_trainer(
            epochs,
            time_budget_s or train_cfg.time_budget_s,
            progress,
            accelerator,
            devices,
            precision,
            train_cfg.patience,
            gradient_clip=module.gradient_clip,
            num_nodes=num_nodes,
            loggers=loggers,
        )
    t0 = time.perf_counter()
    with quiet_lightning():
        trainer.fit(module, datamodule=data)
    train_time = time.perf_counter() - t0
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    info = {
        "method": method,
        "training": training_name,
        "seed": seed,
        "n_train": len(data.train_set),
        "n_val": len(data.val_set),
        "epochs_run": trainer.current_epoch,
        "world_size": trainer.world_size,
        "accelerator": type(trainer.accelerator).__name__,
        "precision": str(trainer.precision),
        "train_time_s": round(train_time, 3),
        "n_nuisance": n_nuisance,
        "val_metrics": metrics,
        "train_config": {**asdict(train_cfg), "max_epochs": epochs},
    }
    if method == "inn":
        info["loss"] = loss
        info["y_noise"] = module.y_noise.tolist()  # s per y dimension (standardized): sampling adds it too
    post = Posterior(method, model_net.cpu(), bounds, x_scaler, y_scaler, net_cfg, {**(metadata or {}), **info})
    post.ood = OODScorer.fit(y_np)
    post.metadata["validation"] = validate(post, data, x_scaler, bounded, seed)
    return post


def validate(
    post: Posterior,
    data: PairsDataModule,
    x_scaler: Standardizer,
    bounded: BoundedTransform,
    seed: int,
    n_obs: int = 1024,
    n_samples: int = 512,
) -> dict[str, Any]:
    """Calibration error, posterior-median error and recoverability per parameter on held-out pairs."""
    val_u, val_y = data.val_set.x[:n_obs], data.val_set.y[:n_obs]
    x_true = bounded.inverse(x_scaler.inverse(val_u.double())).numpy()[:, : post.dx]
    y_obs = post.y_scaler.inverse(val_y.double()).numpy()
    samples = post.sample(y_obs, n_samples, seed=seed + 1)
    table = recoverability_table(samples, x_true, post.x_names).round(4).reset_index()
    return {
        "n_obs": int(len(x_true)),
        "calibration_error": calibration_error(samples, x_true).round(4).tolist(),
        "median_abs_error": np.median(np.abs(np.median(samples, axis=1) - x_true), axis=0).round(6).tolist(),
        "recoverability": {"n_obs": int(len(x_true)), "table": table.to_dict(orient="list")},
    }
