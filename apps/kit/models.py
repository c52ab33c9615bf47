"""Model files of the apps: the shipped ones and loading one for an app's problem."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable

from invert.core import Posterior
from invert.core.bundle import load_for

__all__ = ["load_model", "shipped"]


def shipped(package: str, name: str) -> Path:
    """A file shipped in one of invert's data packages (e.g. shipped("invert.data.tissue", "tissue_cinn.invert"))."""
    return Path(str(files(package) / name))


def load_model(
    path: str | os.PathLike, app: str, make_problem: Callable[[dict], Any], device: str = "auto"
) -> tuple[Posterior, Any]:
    """The posterior in a model file, on `device` (auto: the best one), and the app's problem rebuilt from its
    metadata by make_problem; BundleError (one line) for a damaged file, another app's model or another simulator
    version."""
    post, problem = load_for(path, app, make_problem)
    return post.to(device), problem
