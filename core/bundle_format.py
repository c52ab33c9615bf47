"""Writing the model file: its format tag, checksum and bounds encoding, and `save_bundle`.

`Posterior.save` writes through here; invert.core.bundle reads, validates and loads what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version

import torch
from safetensors.torch import save_file

from .outputs import atomic_write

FORMAT = "invert-bundle-1"


def package_version() -> str:
    """Installed version of the invert distribution."""
    try:
        return version("invert")
    except PackageNotFoundError:
        return "unknown"


def _digest(tensors: dict[str, torch.Tensor], meta_json: str) -> str:
    """SHA-256 over the metadata and every tensor's name and bytes."""
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _encode_bounds(bounds: list[tuple[float, float]]) -> list[list[float | None]]:
    """Bounds for JSON: infinite ones as null."""
    return [[None if math.isinf(v) else v for v in b] for b in bounds]


def _decode_bounds(bounds: list[list[float | None]]) -> list[tuple[float, float]]:
    """Bounds from JSON: null as infinite."""
    return [(-math.inf if lo is None else lo, math.inf if hi is None else hi) for lo, hi in bounds]


def save_bundle(posterior, path: str | os.PathLike) -> None:
    """Write a Posterior to path (safetensors + JSON metadata)."""
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in posterior.net.state_dict().items()}
    tensors["x_scaler.mean"], tensors["x_scaler.std"] = posterior.x_scaler.mean, posterior.x_scaler.std
    tensors["y_scaler.mean"], tensors["y_scaler.std"] = posterior.y_scaler.mean, posterior.y_scaler.std
    if posterior.ood is not None:
        tensors |= {f"ood.{k}": torch.from_numpy(v).reshape(v.shape) for k, v in posterior.ood.state_dict().items()}
    meta = {
        "format": FORMAT,
        "package_version": package_version(),
        "method": posterior.method,
        "dx": posterior.net.dx,  # the network's, noise variables included
        "dy": posterior.dy,
        "x_bounds": _encode_bounds(posterior.x_bounds),
        "net_config": asdict(posterior.net_config),
        "metadata": posterior.metadata,
    }
    meta_json = json.dumps(meta, sort_keys=True)
    header = {"invert": meta_json, "sha256": _digest(tensors, meta_json)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
