"""Two-process CPU DDP training (Lightning's ddp strategy over gloo) trains and saves a usable model."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import invert.core as ic


def test_two_process_ddp_trains_and_saves(tmp_path):
    out = tmp_path / "ddp.invert"
    script = Path(__file__).with_name("ddp_train.py")
    run = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    post = ic.load(out)
    assert post.metadata["world_size"] == 2
    assert post.metadata["n_train"] == 3600 and post.metadata["epochs_run"] == 4
    s = post.sample(np.eye(6, dtype=np.float32)[2], 500)
    assert np.isfinite(s).all() and s.shape == (500, 2)
