"""The learning-rate schedule: a cosine decay over the larger of the steps done and the time budget spent."""

import math
from datetime import timedelta
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl

from invert.core.flows import ConditionalInvertibleNet
from invert.core.training import LR_FLOOR, CINNModule


class FixedTimer(pl.callbacks.Timer):
    """A Timer that reports a fixed elapsed and remaining time."""

    def __init__(self, elapsed: float, left: float):
        super().__init__(duration=timedelta(seconds=elapsed + left))
        self.elapsed, self.left = elapsed, left

    def time_elapsed(self, stage: str = "train") -> float:
        return self.elapsed

    def time_remaining(self, stage: str = "train") -> float:
        return self.left


def lr_factor(step: int, total: int, timer: pl.callbacks.Timer | None = None, world_size: int = 1) -> float:
    module = CINNModule(ConditionalInvertibleNet(2, 2, n_blocks=1, hidden=4))
    module._trainer = SimpleNamespace(
        estimated_stepping_batches=total, callbacks=[timer] if timer else [], world_size=world_size
    )
    return module._lr_factor(step)


def cosine(progress: float) -> float:
    return LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def test_cosine_over_the_steps_without_a_budget():
    assert lr_factor(0, 1000) == pytest.approx(1.0)
    assert lr_factor(250, 1000) == pytest.approx(cosine(0.25))
    assert lr_factor(1000, 1000) == pytest.approx(LR_FLOOR)
    assert lr_factor(5000, 1000) == pytest.approx(LR_FLOOR)


def test_the_time_budget_ends_the_schedule_when_it_runs_out_first():
    assert lr_factor(100, 1000, FixedTimer(elapsed=75, left=25)) == pytest.approx(cosine(0.75))
    assert lr_factor(100, 1000, FixedTimer(elapsed=100, left=0)) == pytest.approx(LR_FLOOR)
    assert lr_factor(900, 1000, FixedTimer(elapsed=10, left=90)) == pytest.approx(cosine(0.9))  # steps ahead


def test_ranks_of_a_distributed_run_follow_the_steps_only():
    assert lr_factor(100, 1000, FixedTimer(elapsed=75, left=25), world_size=2) == pytest.approx(cosine(0.1))
