"""Device choice ("auto" means a GPU when present, else the CPU) and the host's allocator."""

from __future__ import annotations

import ctypes
import os

import torch

__all__ = ["resolve_device", "reuse_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def resolve_device(device: str | torch.device) -> torch.device:
    """The device named, where "auto" is the first CUDA GPU when present and else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def reuse_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Let glibc serve allocations up to limit_bytes from its heap and keep freed memory for reuse; True if applied.

    Sampling a batch allocates and frees network activations of hundreds of MB. By default glibc maps each one
    fresh from the kernel and unmaps it when freed, so every batch pays page faults on new zeroed pages. Reusing
    the heap makes scans and line tables faster for more resident memory at peak; benchmarks/throughput.py
    --malloc-default measures both side by side (README.md, "Large scans, GPUs and clusters", Allocator). Off
    glibc (macOS, Windows, musl), or with the environment variable INVERT_MALLOC=default, nothing changes."""
    if not 0 < limit_bytes < 2**31:
        raise ValueError(f"limit_bytes must be a positive C int, not {limit_bytes}")
    if os.environ.get("INVERT_MALLOC") == "default":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, limit_bytes) and libc.mallopt(M_TRIM_THRESHOLD, limit_bytes))
    except (OSError, AttributeError):
        return False
