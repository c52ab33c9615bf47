"""Helpers for running sbi (the reference NPE) inside benchmarks."""

from __future__ import annotations

from typing import Any


class NoTracker:
    """An sbi training tracker that records nothing (sbi's default writes TensorBoard logs into the cwd)."""

    log_dir = ""

    def log_metric(self, *args: Any, **kwargs: Any) -> None:
        """Discard."""

    log_metrics = log_params = add_figure = flush = log_metric
