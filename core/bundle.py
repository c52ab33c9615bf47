"""The model file: one safetensors file holding the weights, the normalization and JSON metadata.

Loading never unpickles. A SHA-256 over tensors and metadata detects corrupted or edited files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .outputs import atomic_write

FORMAT = "invert-bundle-1"


class BundleError(ValueError):
    """A model file that cannot be used (missing, corrupted, edited, or of another format)."""


def package_version() -> str:
    """Installed version of the invert distribution."""
    try:
        return version("invert")
    except PackageNotFoundError:
        return "unknown"


def _digest(tensors: dict[str, torch.Tensor], meta_json: str) -> str:
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _encode_bounds(bounds: list[tuple[float, float]]) -> list[list[float | None]]:
    return [[None if math.isinf(v) else v for v in b] for b in bounds]


def _decode_bounds(bounds: list[list[float | None]]) -> list[tuple[float, float]]:
    return [(-math.inf if lo is None else lo, math.inf if hi is None else hi) for lo, hi in bounds]


def save_bundle(posterior, path: str | os.PathLike) -> None:
    """Write a Posterior to path (safetensors + JSON metadata)."""
    from dataclasses import asdict

    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in posterior.net.state_dict().items()}
    tensors["x_scaler.mean"], tensors["x_scaler.std"] = posterior.x_scaler.mean, posterior.x_scaler.std
    tensors["y_scaler.mean"], tensors["y_scaler.std"] = posterior.y_scaler.mean, posterior.y_scaler.std
    if posterior.ood is not None:
        tensors |= {f"ood.{k}": torch.from_numpy(v).reshape(v.shape) for k, v in posterior.ood.state_dict().items()}
    meta = {
        "format": FORMAT,
        "package_version": package_version(),
        "method": posterior.method,
        "dx": posterior.dx,
        "dy": posterior.dy,
        "x_bounds": _encode_bounds(posterior.x_bounds),
        "net_config": asdict(posterior.net_config),
        "metadata": posterior.metadata,
    }
    meta_json = json.dumps(meta, sort_keys=True)
    header = {"invert": meta_json, "sha256": _digest(tensors, meta_json)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def read_bundle(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a bundle: (metadata, tensors)."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise BundleError(f"{path} is not a readable invert model file ({err})") from None
    if "invert" not in header or "sha256" not in header:
        raise BundleError(f"{path} is a safetensors file but not an invert model")
    if _digest(tensors, header["invert"]) != header["sha256"]:
        raise BundleError(f"{path} is corrupted or was modified after it was written (checksum mismatch)")
    meta = json.loads(header["invert"])
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path} has format {meta.get('format')!r}; this version reads {FORMAT!r}")
    return meta, tensors


def load(path: str | os.PathLike):
    """Load a Posterior written by `Posterior.save`."""
    from .diagnostics import OODScorer
    from .estimator import NetConfig, Posterior, build_net
    from .transforms import Standardizer

    meta, tensors = read_bundle(path)
    cfg = NetConfig(**meta["net_config"])
    net = build_net(meta["method"], meta["dx"], meta["dy"], cfg, seed=meta["metadata"].get("seed", 0))
    state = {k[len("net."):]: v for k, v in tensors.items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise BundleError(f"{path}: weights do not match the stored architecture ({err})") from None
    return Posterior(
        meta["method"],
        net,
        _decode_bounds(meta["x_bounds"]),
        Standardizer(tensors["x_scaler.mean"], tensors["x_scaler.std"]),
        Standardizer(tensors["y_scaler.mean"], tensors["y_scaler.std"]),
        cfg,
        meta["metadata"],
        OODScorer.from_state({k[len("ood."):]: v.numpy() for k, v in tensors.items() if k.startswith("ood.")}) if "ood.mean" in tensors else None,
    )


def load_for(path: str | os.PathLike, name: str, make_problem: Callable[[dict], Any]) -> tuple[Any, Any]:
    """(Posterior, problem) of a bundle trained for the problem called `name`: the problem is rebuilt by
    make_problem(metadata) and must simulate exactly as at training time; BundleError (one line) otherwise."""
    post = load(path)
    meta = post.metadata
    if meta.get("problem") != name:
        raise BundleError(f"{path} is a model for {meta.get('problem')!r}, not for the {name} app")
    problem = make_problem(meta)
    if meta.get("simulator") != problem.version:
        raise BundleError(
            f"{path} was trained on simulator {meta.get('simulator')!r}; this version of invert simulates "
            f"{problem.version!r}; retrain the model on new simulations"
        )
    return post, problem
