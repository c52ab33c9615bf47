"""Lightning training of the two schemes: the paper's bidirectional INN and the maximum-likelihood cINN.

Data reach the modules already transformed (bounded parameters mapped to R, x and y standardized).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import logging
import math
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from .ensemble import members
from .flows import InvertibleNet
from .losses import (
    gaussian_nll,
    inverse_mmd_loss,
    latent_mmd_loss,
    output_likelihood_loss,
    reconstruction_loss,
    supervised_loss,
)


class PairsDataset(Dataset):
    """In-memory (x, y) pairs that are fetched a whole batch at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    def __getitems__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


def _as_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


class PairsDataModule(pl.LightningDataModule):
    """Training and validation batches of standardized (x, y), split with a seed."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256, val_fraction: float = 0.1, seed: int = 0
    ):
        super().__init__()
        n_val = max(1, int(round(val_fraction * x.shape[0])))
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        val, train = perm[:n_val], perm[n_val:]
        self.train_set = PairsDataset(x[train], y[train])
        self.val_set = PairsDataset(x[val], y[val])
        self.batch_size = min(batch_size, len(self.train_set))

    def train_dataloader(self) -> DataLoader:
        # with DDP each of the world_size processes sees its share: keep at least one full batch per process
        world = self.trainer.world_size if self.trainer is not None else 1
        batch = max(1, min(self.batch_size, len(self.train_set) // world))
        return DataLoader(self.train_set, batch_size=batch, shuffle=True, drop_last=True, collate_fn=_as_batch)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=max(self.batch_size, 1024), collate_fn=_as_batch)


LR_FLOOR = 1 / 50  # the cosine schedule ends at lr * LR_FLOOR


class _FlowModule(pl.LightningModule):
    """Shared optimizer set-up: Adam (default betas 0.9/0.95, eps 1e-8) with a cosine decay to lr/50 over the
    training's progress, the larger of the share of its steps done and (single process) of its time budget spent:
    a fit cut short by its budget still ends its schedule at a low learning rate."""

    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    gradient_clip: tuple[float, str] = (1.0, "norm")

    def __init__(self, lr: float, weight_decay: float):
        super().__init__()
        self.lr, self.weight_decay = lr, weight_decay

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(
            self.parameters(), lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _lr_factor(self, step: int) -> float:
        """The learning rate's factor after `step` optimizer steps: cosine from 1 to LR_FLOOR over the progress."""
        progress = step / max(1, self.trainer.estimated_stepping_batches)
        timer = next((c for c in self.trainer.callbacks if isinstance(c, pl.callbacks.Timer)), None)
        if timer is not None and self.trainer.world_size == 1:  # ranks of a DDP run would disagree on the time
            elapsed, left = timer.time_elapsed("train"), timer.time_remaining("train")
            if left is not None and elapsed + left > 0:
                progress = max(progress, elapsed / (elapsed + left))
        return LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class LossModule(_FlowModule):
    """Trains a network that defines its own loss(x, y) (the cVAE and MC-dropout baselines)."""

    def __init__(self, net: torch.nn.Module, lr: float = 1e-3, weight_decay: float = 1e-5):
        super().__init__(lr, weight_decay)
        self.net = net

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.net.loss(*batch)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), prog_bar=True, sync_dist=True)


class CINNModule(LossModule):
    """Maximum-likelihood training of the cINN: loss = 0.5|z|^2 - log|det J| per dimension (for an ensemble, the mean
    of its members' losses: each member trains on its own likelihood)."""

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        nets = members(self.net)
        return sum(gaussian_nll(*net(x, y)) for net in nets) / len(nets)


# Loss terms of each training strategy of the paper's INN (L_ml only where the loss has it).
INN_STRATEGIES = {
    "bidirectional": ("L_y", "L_z", "L_x", "L_rec", "L_ml"),
    "forward": ("L_y", "L_z"),
    "inverse": ("L_x",),
}

# The INN's losses (fit(..., loss=...)): the paper's, and the default with a maximum-likelihood term.
INN_LOSSES = {
    "paper+ml": "the paper's terms plus the maximum likelihood of the outputs, y resolution estimated from the data",
    "paper": "the paper's terms only (L_y, L_z, L_x, L_rec), its weights and noise levels",
}
PAPER_Y_NOISE = 0.03  # the paper's noise on y and on the padding (standardized units), official toy code
# "paper+ml": w_ml = 10 D, i.e. 10 x the negative log-likelihood per sample (L_ml is per dimension); with w_ml = 1
# the paper's terms (weights 150-400) dominated and the posterior mean of a linear-Gaussian problem was off by
# 0.5 posterior std, with w_ml = 40 (D = 4) by 0.1 (tests/core/test_inn_noise.py)
ML_WEIGHT_PER_DIM = 10.0


class INNModule(_FlowModule):
    """The paper's bidirectional INN training (Ardizzone et al. 2019, Sec. 3.3), with the settings of
    its official 8-mode toy code (vislearn/analyzing_inverse_problems); the terms are those of invert.core.losses:

    forward: L_y = mean square of [padding, y_pred - y] and L_z = MMD([z, y_pred.detach()], [N(0, I), y]);
    inverse: L_x = MMD(g(y, z ~ N(0, I)), x), its weight ramped up exponentially (600^(t-1), t = progress);
    plus a reconstruction term |g(z.detach(), y) - x|^2 / D through the inverse pass only.
    Noise of y_noise on y and pad_noise on the padding, both in standardized units; the posterior adds
    the same y noise when it samples (without it, the samples are too narrow: tests/core/test_estimator.py).

    loss (INN_LOSSES): "paper" is exactly that, with y_noise = pad_noise = 0.03. "paper+ml" (the default) adds
    w_ml L_ml (w_ml = ML_WEIGHT_PER_DIM x D), the negative log-likelihood of [x, padding] given y with
    z ~ N(0, I), y_pred ~ N(y, diag s^2) (one s per y dimension) and padding ~ N(0, mean of s^2): a normalized
    conditional density of the padded x for every s, whose maximum is the posterior where the network can
    represent it. Its padding inputs are unit normal (pad_noise 1): nuisance variables that the forward pass can
    turn into observation noise. s is the resolution in y: with the paper's s = 0.03 the posterior admits only x
    whose y_pred lies within about 0.03 of the measured y, too narrow wherever the observation noise is larger.
    Unless y_noise is given, s is estimated as training goes (s_j^2 = running mean over batches of
    (y_pred_j - y_j)^2 in each y dimension j, L_ml's maximum over s for the current network: one s for all would
    widen the posterior along the precise dimensions by the error of the worst; test: tests/core/test_inn_noise.py)
    and the posterior samples with it. Without L_ml the MMD terms leave samples between or on the wrong modes of the
    8-mode toy (tests/core/test_estimator.py).

    strategy (the paper's ablation, INN_STRATEGIES): "bidirectional" (all terms), "forward" (L_y + L_z:
    the forward process and the latent distribution only) or "inverse" (L_x only: a conditional
    generator trained through the inverse pass).
    """

    gradient_clip = (15.0, "value")  # official code: each gradient element clamped to +-15
    betas = (0.8, 0.8)  # official code; with eps 1e-4 it damps steps on the noisy MMD gradients
    eps = 1e-4
    y_noise_momentum = 0.02  # weight of each training batch in the running estimate of s^2

    def __init__(
        self,
        net: InvertibleNet,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        max_epochs: int = 100,
        w_y: float = 300.0,
        w_z: float = 300.0,
        w_x: float = 400.0,
        w_rec: float = 150.0,
        w_ml: float | None = None,
        y_noise: float | None = None,
        pad_noise: float | None = None,
        ramp_epochs: float | None = None,
        strategy: str = "bidirectional",
        loss: str = "paper+ml",
    ):
        super().__init__(lr, weight_decay)
        if strategy not in INN_STRATEGIES:
            raise ValueError(f"training must be one of {tuple(INN_STRATEGIES)}, not {strategy!r}")
        if loss not in INN_LOSSES:
            raise ValueError(f"loss must be one of {tuple(INN_LOSSES)}, not {loss!r}")
        w_ml = (0.0 if loss == "paper" else ML_WEIGHT_PER_DIM * net.width) if w_ml is None else w_ml
        self.net, self.strategy, self.loss_name = net, strategy, loss
        self.terms = tuple(t for t in INN_STRATEGIES[strategy] if t != "L_ml" or w_ml > 0)
        self.w_y, self.w_z, self.w_x, self.w_rec, self.w_ml = w_y, w_z, w_x, w_rec, w_ml
        ml = "L_ml" in self.terms  # without it, the paper's noise levels
        self.estimate_y_noise = ml and y_noise is None
        y_noise = (1.0 if ml else PAPER_Y_NOISE) if y_noise is None else y_noise
        self.register_buffer("y_noise_sq", torch.full((net.dy,), float(y_noise) ** 2))
        self.pad_noise = (1.0 if ml else PAPER_Y_NOISE) if pad_noise is None else pad_noise
        self.ramp_epochs = ramp_epochs if ramp_epochs is not None else max(1.0, float(max_epochs))

    @property
    def y_noise(self) -> torch.Tensor:
        """s (dy,), the noise on each y dimension in standardized units (estimated during training unless given)."""
        return self.y_noise_sq.sqrt()

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, ramp: float) -> dict[str, torch.Tensor]:
        """The strategy's loss terms for one batch (unweighted) and their weighted total."""
        terms: dict[str, torch.Tensor] = {}
        s = self.y_noise_sq.sqrt()
        if "L_y" in self.terms:
            y_fwd = y + s * torch.randn_like(y)
            out, log_det = self.net(self.net.pad_x(x, self.pad_noise))
            z, pad, y_pred = self.net.split_out(out)
            if self.estimate_y_noise and self.training:
                self._update_y_noise(y_pred.detach() - y)
            terms["L_y"] = supervised_loss(pad, y_pred, y_fwd)
            terms["L_z"] = latent_mmd_loss(z, y_pred, torch.randn_like(z), y_fwd)
            if "L_ml" in self.terms:
                terms["L_ml"] = output_likelihood_loss(z, pad, y_pred, y, log_det, s, with_log_s=True)
        y_inv = y + s * torch.randn_like(y)
        if "L_x" in self.terms:
            z_prior = torch.randn(x.shape[0], self.net.dz, device=x.device)
            terms["L_x"] = inverse_mmd_loss(self.net.inverse_x(z_prior, y_inv, self.pad_noise), x)
        if "L_rec" in self.terms:
            z_noisy = z.detach() + s.square().mean().sqrt() * torch.randn_like(z)
            x_rec = self.net.inverse_x(z_noisy, y_inv, self.pad_noise)
            terms["L_rec"] = reconstruction_loss(x_rec, x, self.net.width)
        ramp = ramp if len(self.terms) > 1 else 1.0  # the ramp balances L_x against the forward terms
        weights = {"L_y": self.w_y, "L_z": self.w_z, "L_x": ramp * self.w_x, "L_rec": self.w_rec, "L_ml": self.w_ml}
        return terms | {"loss": sum(weights[k] * v for k, v in terms.items())}

    @torch.no_grad()
    def _update_y_noise(self, residual: torch.Tensor) -> None:
        """Move the running s^2 (per y dimension) towards this batch's mean squared residual y_pred - y (L_ml's
        maximum over s)."""
        m = self.y_noise_momentum
        self.y_noise_sq.mul_(1 - m).add_(m * residual.square().mean(0))

    def _ramp(self) -> float:
        """Weight factor of L_x: 600^(t - 1) with t = epoch / ramp_epochs, ~0 early and 1 at the end (official code)."""
        progress = min(1.0, self.current_epoch / self.ramp_epochs)
        return float(600.0 ** (progress - 1.0))

    def training_step(self, batch, batch_idx):
        terms = self.loss_terms(*batch, ramp=self._ramp())
        self.log_dict(
            {f"train_{k}": v for k, v in terms.items() if k != "loss"}, on_step=False, on_epoch=True, sync_dist=True
        )
        self.log("train_loss", terms["loss"], prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        return terms["loss"]

    def validation_step(self, batch, batch_idx):
        terms = self.loss_terms(*batch, ramp=1.0)
        self.log_dict({f"val_{k}": v for k, v in terms.items() if k != "loss"}, sync_dist=True)
        self.log("val_loss", terms["loss"], prog_bar=True, sync_dist=True)


class BestWeights(pl.Callback):
    """Keep a copy of the weights with the lowest validation loss and restore them when training ends."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor, self.best, self.state = monitor, math.inf, None

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


HISTORY_FILE = "metrics.csv"  # the per-epoch history in a training log folder
TENSORBOARD_DIR = "tensorboard"  # its TensorBoard events (where tensorboard or tensorboardX is installed)


class EpochCSVLogger(CSVLogger):
    """Lightning's CSVLogger with one row per epoch, in <save_dir>/metrics.csv: the validation and the training
    metrics that Lightning logs separately at the end of an epoch are merged into one row (columns epoch, step,
    train_loss, val_loss, then the rest by name). The file is brought up to date as each epoch ends, rewriting only
    its last row, so an epoch's logging costs the same at epoch 1000 as at epoch 1. Rank 0 writes; other ranks do
    nothing."""

    def __init__(self, save_dir: str | Path):
        super().__init__(save_dir, name="", version="")
        self.rows: list[dict[str, Any]] = []
        self._columns: list[str] = []
        self._written = 0  # rows in the file; its last one may still gain metrics of the same epoch
        self._last_row_at = 0  # byte offset of the file's last row

    @property
    def history_file(self) -> Path:
        return Path(self.log_dir) / HISTORY_FILE

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics.items()}
        if step is not None:
            row["step"] = step
        if self.rows and "epoch" in row and self.rows[-1].get("epoch") == row["epoch"]:
            self.rows[-1].update(row)
        else:
            self.rows.append(row)

    @rank_zero_only
    def log_hyperparams(self, params: Any = None) -> None:
        super().log_hyperparams(params)
        self.experiment.save()  # hparams.yaml (the writer's own metric buffer stays empty)

    @rank_zero_only
    def save(self) -> None:
        if self.rows:
            self._write()

    def _write(self) -> None:
        _ = self.experiment  # creates the folder (and clears an earlier metrics.csv) before the first write
        path = self.history_file
        first = self._written - 1 if self._written else 0
        keys = set(self._columns).union(*self.rows[first:])
        if keys != set(self._columns) or not path.is_file():  # a new column (or a removed file): write all
            order = {"epoch": 0, "step": 1, "train_loss": 2, "val_loss": 3}
            self._columns = sorted(keys, key=lambda k: (order.get(k, 4), k))
            header, first, mode = self._encode([dict(zip(self._columns, self._columns))]), 0, "wb"
        else:
            header, mode = [], "r+b"
        rows = self._encode(self.rows[first:])
        with open(path, mode) as f:
            if mode == "r+b":
                f.seek(self._last_row_at)
                f.truncate()
            else:
                self._last_row_at = len(header[0])
            f.write(b"".join(header + rows))
        self._last_row_at += sum(len(r) for r in rows[:-1])
        self._written = len(self.rows)

    def _encode(self, rows: list[dict[str, Any]]) -> list[bytes]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self._columns, restval="", lineterminator="\n")
        encoded = []
        for row in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(row)
            encoded.append(buffer.getvalue().encode())
        return encoded


def tensorboard_available() -> bool:
    """Whether Lightning's TensorBoardLogger can run here (tensorboard or tensorboardX importable)."""
    return any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))


def training_loggers(log_dir: str | Path) -> list[Logger]:
    """The loggers of a fit that keeps its history in log_dir: metrics.csv (EpochCSVLogger), hparams.yaml and,
    where tensorboard or tensorboardX is installed, TensorBoard events in log_dir/tensorboard. The folder holds one
    run: the main process first removes an earlier run's files there (only those)."""
    log_dir = Path(log_dir)
    if is_main_process():
        for old in [log_dir / HISTORY_FILE, log_dir / "hparams.yaml", log_dir / TENSORBOARD_DIR / "hparams.yaml"]:
            old.unlink(missing_ok=True)
        for old in (log_dir / TENSORBOARD_DIR).glob("events.out.tfevents.*"):
            old.unlink()
    loggers: list[Logger] = [EpochCSVLogger(log_dir)]
    if tensorboard_available():
        loggers.append(TensorBoardLogger(log_dir, name=TENSORBOARD_DIR, version="", default_hp_metric=False))
    return loggers


def make_trainer(
    max_epochs: int,
    time_budget_s: float | None = None,
    progress: bool = True,
    accelerator: str = "auto",
    devices: int | str = "auto",
    precision: str | int = "32-true",
    patience: int | None = 20,
    checkpoint_dir: str | None = None,
    strategy: str | None = None,
    gradient_clip: tuple[float, str] = (1.0, "norm"),
    num_nodes: int = 1,
    loggers: list[Logger] | None = None,
) -> pl.Trainer:
    """A Lightning Trainer with the package's conventions (auto device, DDP on >1 device, early stopping, best
    weights kept); without loggers (training_loggers) it keeps no history."""
    callbacks: list[pl.Callback] = [BestWeights()]
    if patience:
        callbacks.append(pl.callbacks.EarlyStopping("val_loss", patience=patience, mode="min"))
    if checkpoint_dir:
        callbacks.append(pl.callbacks.ModelCheckpoint(checkpoint_dir, monitor="val_loss", save_last=True))
    if strategy is None:
        strategy = "ddp" if world_size(accelerator, devices, num_nodes) > 1 else "auto"
    return pl.Trainer(
        max_epochs=max_epochs,
        max_time=timedelta(seconds=time_budget_s) if time_budget_s else None,
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=precision,
        callbacks=callbacks,
        enable_progress_bar=progress,
        enable_model_summary=False,
        enable_checkpointing=bool(checkpoint_dir),
        logger=loggers or False,
        gradient_clip_val=gradient_clip[0],
        gradient_clip_algorithm=gradient_clip[1],
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )


@contextlib.contextmanager
def quiet_lightning():
    """Silence Lightning's start-up chatter (device listing, tips, deprecation notes) for one fit."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=".*(LeafSpec|num_workers|does not have many workers|GPU available|Experiment logs directory"
            "|smaller than the logging interval).*",
        )
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def world_size(accelerator: str, devices: int | str, num_nodes: int = 1) -> int:
    """How many processes a Trainer would run (DDP when more than one; each takes a batch per step)."""
    if isinstance(devices, int) or str(devices).isdigit():
        per_node = int(devices)
    elif devices == "auto" and accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        per_node = torch.cuda.device_count()
    else:
        per_node = 1 if devices == "auto" else max(1, len(str(devices).split(",")))
    return per_node * num_nodes


def default_epochs(
    n_train: int, batch_size: int, target_steps: int = 8000, min_epochs: int = 10, max_epochs: int = 1000
) -> int:
    """Epochs that give about target_steps optimizer steps on n_train pairs."""
    steps_per_epoch = max(1, n_train // batch_size)
    return int(min(max_epochs, max(min_epochs, math.ceil(target_steps / steps_per_epoch))))


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (and those of data-loader workers) for a reproducible fit."""
    pl.seed_everything(seed, workers=True, verbose=False)


def is_main_process() -> bool:
    """True on the rank-0 process of a distributed run (and always when not distributed)."""
    return rank_zero_only.rank == 0
