"""Device choice and the allocator setting of the command line."""

import platform

import pytest
import torch

from invert.core.devices import resolve_device, reuse_freed_memory


def test_auto_device_is_the_gpu_when_present():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator setting applies to glibc only")
def test_reuse_freed_memory_applies_on_glibc_unless_turned_off(monkeypatch):
    monkeypatch.setenv("INVERT_MALLOC", "default")
    assert reuse_freed_memory() is False
    monkeypatch.delenv("INVERT_MALLOC")
    assert reuse_freed_memory() is True
    with pytest.raises(ValueError):
        reuse_freed_memory(1 << 31)  # would wrap around as a C int
