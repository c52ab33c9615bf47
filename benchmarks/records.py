"""How benchmark results record their settings: paths inside the repository relative to its root, so that
the saved results name no machine-specific folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def portable(value: Any) -> Any:
    """A path inside the repository as a string relative to its root; other paths as strings; other values as given."""
    if not isinstance(value, Path):
        return value
    resolved = value.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(value)


def args_record(args: argparse.Namespace) -> dict[str, Any]:
    """The command-line arguments of a benchmark run, paths made portable."""
    return {k: portable(v) for k, v in vars(args).items()}
