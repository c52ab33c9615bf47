"""The model file: one safetensors file holding the weights, the normalization and JSON metadata.

Loading never unpickles. A SHA-256 over tensors and metadata detects corrupted files; as whoever edits a file can
recompute it, `validate` then checks every field and tensor against the architecture before anything is built.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, get_args, get_type_hints

import torch
from safetensors import SafetensorError, safe_open

from .bundle_format import FORMAT, _decode_bounds, _digest, package_version, save_bundle
from .diagnostics import OODScorer
from .flows import COUPLINGS
from .nets import METHODS, NetConfig, build_net
from .posterior import Posterior
from .transforms import Standardizer

__all__ = ["BundleError", "FORMAT", "load", "load_for", "package_version", "read_bundle", "save_bundle", "validate"]

FIELDS = {"format": str, "method": str, "dx": int, "dy": int, "x_bounds": list, "net_config": dict, "metadata": dict}
OPTIONAL_FIELDS = {"package_version": str}
SCALERS = ("x_scaler.mean", "x_scaler.std", "y_scaler.mean", "y_scaler.std")
OOD_KEYS = ("mean", "whitening", "threshold", "quantile", "reference", "k")  # the last two: k-NN scorers only
# What a model file may ask to be built (the shipped models: 1.6e5 weights, 8 coupling blocks of depth 2):
MAX_WEIGHTS = 10**8  # weights and buffers, 400 MB in float32; also caps each size (dx, hidden, ...): each implies more
MAX_BLOCKS = 128  # n_blocks and depth are capped on their own, as counting the weights builds their modules
MAX_ENSEMBLE = 64  # ensemble members, capped for the same reason
MAX_DEPTH = 16  # (on the meta device, without memory: at both caps in under a second)
MAX_SEED = 2**32  # training seeds lie in [0, 2**32), the range Lightning's seed_everything accepts


class BundleError(ValueError):
    """A model file that cannot be used (missing, corrupted, edited, or of another format)."""


def read_bundle(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor], torch.nn.Module]:
    """Read, verify and `validate` a bundle: (metadata, tensors, its network on the meta device, without weights)."""
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
    try:
        meta = json.loads(header["invert"])
    except (ValueError, RecursionError) as err:
        raise BundleError(f"{path}: its metadata is not valid JSON ({_one_line(err)})") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{path}: its metadata is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path} has format {_short(meta.get('format'))}; this version reads {FORMAT!r}")
    return meta, tensors, validate(meta, tensors, path)


class _Invalid(Exception):
    """What is wrong with a bundle, in a few words (validate adds the file name)."""


def validate(meta: dict[str, Any], tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> torch.nn.Module:
    """The network that metadata and tensors describe, on the meta device (shapes only, no memory); BundleError
    (one line naming path) unless they form a model this version can build and run."""
    try:
        _check_fields(meta)
        _check_net_config(meta["net_config"])
        _check_metadata(meta["metadata"], meta["dx"], meta["dy"])
        net = _meta_net(meta)
        state = {f"net.{k}": v for k, v in net.state_dict().items()}
        _check_names(tensors, state)
        _check_scalers(tensors, meta["dx"], meta["dy"])
        _check_net(tensors, state)
        _check_ood(_part(tensors, "ood"), meta["dy"])
    except _Invalid as err:
        raise BundleError(f"{path}: {err}") from None
    return net


def _short(value: Any) -> str:
    """A value from the file for a message: its repr (one line), shortened."""
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _list(names: list[str]) -> str:
    """Names from the file for a message: the first three and how many more."""
    return ", ".join(map(_short, names[:3])) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _json_type(hint: Any) -> str:
    """The JSON name of a type hint (int | None -> "integer or null")."""
    names = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array", dict: "object"}
    return " or ".join(names.get(kind, "null") for kind in get_args(hint) or (hint,))


def _one_line(err: Exception) -> str:
    """An exception's message on one line, shortened."""
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _is(value: Any, hint: Any) -> bool:
    """Whether a JSON value has type hint (e.g. int, float, int | None): bools are not numbers, ints are floats."""
    kinds = get_args(hint) or (hint,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds) or (float in kinds and isinstance(value, int))


def _check_type(name: str, value: Any, hint: Any) -> None:
    """_Invalid unless value has type hint."""
    if not _is(value, hint):
        raise _Invalid(f"{name} must be {_json_type(hint)}, not {_json_type(type(value))} {_short(value)}")


def _check_size(name: str, value: int | None, limit: int = MAX_WEIGHTS) -> None:
    """_Invalid unless an integer size is None or in [1, limit]."""
    if value is not None and not 1 <= value <= limit:
        raise _Invalid(f"{name} = {value} is out of range [1, {limit}]")


def _check_fields(meta: dict[str, Any]) -> None:
    """The top-level fields: all present, none unknown, of their types; a known method; sizes; x_bounds."""
    missing = [key for key in FIELDS if key not in meta]
    if missing:
        raise _Invalid(f"metadata lacks field(s) {', '.join(missing)}")
    unknown = sorted(meta.keys() - FIELDS.keys() - OPTIONAL_FIELDS.keys())
    if unknown:
        raise _Invalid(f"metadata has unknown field(s) {_list(unknown)}")
    for key, hint in (FIELDS | OPTIONAL_FIELDS).items():
        if key in meta:
            _check_type(key, meta[key], hint)
    if meta["method"] not in METHODS:
        raise _Invalid(f"unknown method {_short(meta['method'])}; known: {', '.join(METHODS)}")
    _check_size("dx", meta["dx"])
    _check_size("dy", meta["dy"])
    if len(meta["x_bounds"]) != meta["dx"]:
        raise _Invalid(f"x_bounds has {len(meta['x_bounds'])} entries for dx = {meta['dx']}")
    for i, pair in enumerate(meta["x_bounds"]):
        good = isinstance(pair, list) and len(pair) == 2 and all(_is(v, float | None) for v in pair)
        lo, hi = _decode_bounds([pair])[0] if good else (math.nan, math.nan)
        if not (lo < hi and all(v is None or math.isfinite(v) for v in pair)):
            raise _Invalid(f"x_bounds[{i}] = {_short(pair)} is not [lo, hi] of finite numbers or null with lo < hi")


def _check_net_config(cfg: dict[str, Any]) -> None:
    """The keys and types of NetConfig's fields; sizes in range, n_blocks and depth capped, alpha positive, a known
    coupling."""
    hints = get_type_hints(NetConfig)
    unknown = sorted(cfg.keys() - hints.keys())
    if unknown:
        raise _Invalid(f"net_config has unknown key(s) {_list(unknown)}")
    limits = {"n_blocks": MAX_BLOCKS, "depth": MAX_DEPTH, "ensemble": MAX_ENSEMBLE}
    for key, value in cfg.items():
        _check_type(f"net_config.{key}", value, hints[key])
        if isinstance(value, int) and not isinstance(value, bool):
            _check_size(f"net_config.{key}", value, limits.get(key, MAX_WEIGHTS))
    alpha = cfg.get("alpha", NetConfig.alpha)
    if not 0 < alpha < math.inf:
        raise _Invalid(f"net_config.alpha = {alpha} is not a positive finite number")
    coupling = cfg.get("coupling")
    if coupling is not None and coupling not in COUPLINGS:
        raise _Invalid(f"unknown net_config.coupling {_short(coupling)}; known: {', '.join(COUPLINGS)}")


def _check_metadata(metadata: dict[str, Any], dx: int, dy: int) -> None:
    """The fields of `metadata` that loading and sampling read: seed, y_noise (INN), n_nuisance and x_names."""
    seed = metadata.get("seed", 0)
    _check_type("metadata.seed", seed, int)
    if not 0 <= seed < MAX_SEED:
        raise _Invalid(f"metadata.seed = {seed} is out of range [0, 2**32)")
    y_noise = metadata.get("y_noise", 0.0)  # one number (files before per-dimension noise) or one per y dimension
    _check_type("metadata.y_noise", y_noise, float | list)
    values = y_noise if isinstance(y_noise, list) else [y_noise]
    if isinstance(y_noise, list) and len(y_noise) != dy or not all(_is(v, float) and 0 <= v < math.inf for v in values):
        raise _Invalid(f"metadata.y_noise = {_short(y_noise)} is not one or dy = {dy} finite numbers >= 0")
    n_nuisance = metadata.get("n_nuisance", 0)
    _check_type("metadata.n_nuisance", n_nuisance, int)
    if not 0 <= n_nuisance < dx:
        raise _Invalid(f"metadata.n_nuisance = {n_nuisance} is not in [0, dx = {dx})")
    names, n_names = metadata.get("x_names"), dx - n_nuisance
    named = isinstance(names, list) and len(names) == n_names and all(_is(n, str) for n in names)
    if names is not None and not named:
        raise _Invalid(f"metadata.x_names = {_short(names)} is not a list of dx - n_nuisance = {n_names} strings")


# Model files written before spline couplings existed have no "coupling" key: their blocks are affine.
LEGACY_NET_CONFIG = {"coupling": "affine"}


def stored_net_config(meta: dict[str, Any]) -> NetConfig:
    """The NetConfig of a model file's metadata (checked), with the legacy defaults of older files."""
    return NetConfig(**(LEGACY_NET_CONFIG | meta["net_config"]))


def _meta_net(meta: dict[str, Any]) -> torch.nn.Module:
    """The network the metadata describes, built on the meta device (shapes and dtypes, no memory); _Invalid if it
    cannot be built or would exceed MAX_WEIGHTS."""
    cfg = stored_net_config(meta)
    try:
        with torch.device("meta"):
            net = build_net(meta["method"], meta["dx"], meta["dy"], cfg, seed=meta["metadata"].get("seed", 0))
    except (ValueError, RuntimeError) as err:
        raise _Invalid(f"net_config {meta['net_config']} is no valid network ({_one_line(err)})") from None
    n_weights = sum(v.numel() for v in net.state_dict().values())
    if n_weights > MAX_WEIGHTS:
        raise _Invalid(
            f"dx = {meta['dx']}, dy = {meta['dy']} and net_config {meta['net_config']} imply "
            f"{n_weights:.3g} weights, more than the limit {MAX_WEIGHTS:.0e}"
        )
    return net


def _check_names(tensors: dict[str, torch.Tensor], net: dict[str, torch.Tensor]) -> None:
    """Every tensor the model needs is stored, and nothing else (the OOD scorer's are optional)."""
    expected = set(SCALERS) | net.keys()
    missing = sorted(expected - tensors.keys())
    if missing:
        raise _Invalid(f"tensor(s) missing: {_list(missing)}")
    extra = sorted(tensors.keys() - expected - {f"ood.{key}" for key in OOD_KEYS})
    if extra:
        raise _Invalid(f"unexpected tensor(s): {_list(extra)}")


def _check_tensor(
    name: str, t: torch.Tensor, shape: tuple[int, ...], source: str, dtype: torch.dtype | None = None
) -> None:
    """_Invalid unless t has shape (expected from source), dtype (default: any floating type) and finite values."""
    if tuple(t.shape) != tuple(shape):
        raise _Invalid(f"tensor {name} has shape {tuple(t.shape)}, but {source} implies {tuple(shape)}")
    if not (t.dtype == dtype if dtype is not None else t.is_floating_point()):
        raise _Invalid(f"tensor {name} has dtype {t.dtype}, not {dtype or 'a floating-point type'}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise _Invalid(f"tensor {name} holds NaN or infinite values")


def _check_scalers(tensors: dict[str, torch.Tensor], dx: int, dy: int) -> None:
    """x and y standardizations: finite vectors of length dx and dy, with positive std."""
    sizes = {"x": dx, "y": dy}
    for name in SCALERS:
        _check_tensor(name, tensors[name], (sizes[name[0]],), f"d{name[0]}")
    for name in ("x_scaler.std", "y_scaler.std"):
        if not bool((tensors[name] > 0).all()):
            raise _Invalid(f"tensor {name} has values <= 0 (a standard deviation)")


def _check_net(tensors: dict[str, torch.Tensor], net: dict[str, torch.Tensor]) -> None:
    """The network's tensors: shapes and dtypes of the architecture, finite, and the integer ones (the couplings'
    permutations) permutations of 0..n-1."""
    for name, like in net.items():
        t = tensors[name]
        _check_tensor(name, t, like.shape, "net_config", like.dtype)
        if like.dtype == torch.int64 and not torch.equal(t.sort().values, torch.arange(len(t))):
            raise _Invalid(f"tensor {name} is not a permutation of 0..{len(t) - 1}")


def _check_ood(state: dict[str, torch.Tensor], dy: int) -> None:
    """The OOD scorer, if stored: mean (dy,), whitening (dy, dy), scalars threshold and quantile in (0, 1], and for a
    k-NN scorer reference (n, dy) with an integer k in [1, n]."""
    if not state:
        return
    knn = "reference" in state or "k" in state
    missing = [key for key in (OOD_KEYS if knn else OOD_KEYS[:4]) if key not in state]
    if missing:
        raise _Invalid(f"tensor(s) missing: {_list(['ood.' + key for key in missing])}")
    n_ref = tuple(state["reference"].shape[:1]) if knn else ()
    shapes = {"mean": (dy,), "whitening": (dy, dy), "threshold": (), "quantile": (), "reference": (*n_ref, dy), "k": ()}
    for key, t in state.items():
        _check_tensor(f"ood.{key}", t, shapes[key], "dy")
    if not 0 < float(state["quantile"]) <= 1:
        raise _Invalid(f"tensor ood.quantile = {float(state['quantile'])} is not in (0, 1]")
    if knn and not (float(state["k"]).is_integer() and 1 <= float(state["k"]) <= n_ref[0]):
        raise _Invalid(f"tensor ood.k = {float(state['k'])} is not an integer in [1, {n_ref[0]}] (reference rows)")


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors named prefix.*, without the prefix."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load(path: str | os.PathLike) -> Posterior:
    """Load a Posterior written by `Posterior.save`; BundleError (one line) for a file that is not a usable model."""
    meta, tensors, net = read_bundle(path)
    net = net.to_empty(device="cpu")  # every parameter and buffer is stored, and validated: no initialization needed
    try:
        net.load_state_dict(_part(tensors, "net"))
    except RuntimeError as err:  # validate compared the shapes already; kept as a safety net
        raise BundleError(f"{path}: weights do not match the stored architecture ({_one_line(err)})") from None
    ood = _part(tensors, "ood")
    return Posterior(
        meta["method"],
        net,
        _decode_bounds(meta["x_bounds"]),
        Standardizer(tensors["x_scaler.mean"], tensors["x_scaler.std"]),
        Standardizer(tensors["y_scaler.mean"], tensors["y_scaler.std"]),
        stored_net_config(meta),
        meta["metadata"],
        OODScorer.from_state({k: v.numpy() for k, v in ood.items()}) if ood else None,
    )


def load_for(path: str | os.PathLike, name: str, make_problem: Callable[[dict], Any]) -> tuple[Any, Any]:
    """(Posterior, problem) of a bundle trained for the problem called `name`: the problem is rebuilt by
    make_problem(metadata) and must simulate exactly as at training time; BundleError (one line) otherwise."""
    post = load(path)
    meta = post.metadata
    if meta.get("problem") != name:
        raise BundleError(f"{path} is a model for {meta.get('problem')!r}, not for the {name} app")
    try:
        problem = make_problem(meta)
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{path}: its metadata does not describe a {name} problem ({_one_line(err)})") from None
    if meta.get("simulator") != problem.version:
        raise BundleError(
            f"{path} was trained on simulator {meta.get('simulator')!r}; this version of invert simulates "
            f"{problem.version!r}; retrain the model on new simulations"
        )
    return post, problem
