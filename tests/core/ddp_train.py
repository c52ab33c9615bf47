"""Run by test_ddp.py: train a cINN on the 8-mode toy with 2 CPU processes (DDP, gloo) and save it."""

import sys

import invert.core as ic
from invert.core.toys import GaussianMixture8

if __name__ == "__main__":
    x, y = ic.simulate_dataset(GaussianMixture8(), 4000, seed=0)
    post = ic.fit(x, y, max_epochs=4, progress=False, accelerator="cpu", devices=2)
    if ic.is_main_process():
        post.save(sys.argv[1])
