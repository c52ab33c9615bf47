"""Counter-based standard normal noise: the draws of observation i depend only on (seed, i).

Posterior sampling takes its latent z from here, so a row's samples are the same however the rows are
batched or chunked (a million-pixel scan streamed in chunks gives the same summaries as one pass), and on
any device. Each draw is SplitMix64 (Steele, Lea & Flood 2014) of a per-row key plus the draw's index,
turned into a uniform with 52 random bits (strictly inside (0, 1)) and into a normal by the inverse error function.
"""

from __future__ import annotations

import math

import torch

__all__ = ["row_normals", "row_seed"]

_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _signed(c: int) -> int:
    """A 64-bit constant as torch's signed int64."""
    return c - (1 << 64) if c >= 1 << 63 else c


def _shr(h: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (h >> k) & ((1 << (64 - k)) - 1)


def _mix(h: torch.Tensor) -> torch.Tensor:
    """SplitMix64's output function (int64 arithmetic wraps modulo 2^64)."""
    h = (h ^ _shr(h, 30)) * _signed(_MIX1)
    h = (h ^ _shr(h, 27)) * _signed(_MIX2)
    return h ^ _shr(h, 31)


def _seed_key(seed: int, device: str | torch.device) -> torch.Tensor:
    """The mixed 64-bit key of a seed (any Python or NumPy integer)."""
    return _mix(torch.tensor(_signed(int(seed) % (1 << 64)), dtype=torch.int64, device=device) + _signed(_GOLDEN))


def row_normals(seed: int, rows: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """(len(rows), n, dim) float32 standard normals on rows' device; row r holds the draws of observation rows[r]."""
    device = rows.device
    rows = rows.to(torch.int64)
    row_key = _mix(_seed_key(seed, device) + rows * _signed(_GOLDEN))  # one independent SplitMix64 state per row
    steps = torch.arange(1, n * dim + 1, device=device, dtype=torch.int64) * _signed(_GOLDEN)
    bits = _shr(_mix(row_key[:, None] + steps[None, :]), 12)  # 52 random bits
    u = (bits.double() + 0.5) * 2.0**-52  # uniform in (0, 1): at most 1 - 2^-53, exactly representable
    return (math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)).float().reshape(len(rows), n, dim)


def row_seed(seed: int, row: int) -> int:
    """A 63-bit seed for a torch.Generator of observation `row` under `seed` (for samplers that draw their own
    noise); distinct (seed, row) pairs give unrelated seeds, unlike seed + row."""
    return int(_mix(_seed_key(seed, "cpu") + _signed(int(row) * _GOLDEN % (1 << 64)))) & ((1 << 63) - 1)
