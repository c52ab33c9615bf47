"""A one-line progress report for long loops (simulation, posterior analysis): count, rate and time left.

Kept rather than rich.progress (installed with typer) because it also serves batch jobs: on a terminal the line is
rewritten in place; into a file or pipe (a cluster job's log) rich shows nothing until the loop ends, while this
writes a whole line every LOG_EVERY seconds, and it marks an estimated total with "~".
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "duration"]

LOG_EVERY = 30.0  # seconds between lines when the stream is not a terminal


def duration(seconds: float) -> str:
    """A short human duration: 42 s, 3.5 min, 2 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class Progress:
    """`label done/total unit (rate/s, time left)` rewritten in place on stderr at most every `every` seconds (a new
    line every LOG_EVERY seconds into a file or pipe); silent when not enabled. total may be None (unknown) or an
    estimate (shown with ~)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str = "",
        enabled: bool = True,
        approximate: bool = False,
        every: float = 0.5,
        stream: TextIO | None = None,
    ):
        self.label, self.total, self.unit, self.enabled = label, total, unit, enabled
        self.approximate, self.stream = approximate, stream or sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if self.terminal else max(every, LOG_EVERY)
        self.done, self.t0, self._shown, self._width = 0, time.perf_counter(), -float("inf"), 0

    def advance(self, k: int) -> None:
        """Count k more items done."""
        self.done += k
        now = time.perf_counter()
        if self.enabled and now - self._shown >= self.every:
            self._shown = now
            self._write(self._line(now - self.t0), end="" if self.terminal else "\n")

    def close(self) -> None:
        """The final line: count and total time."""
        if self.enabled:
            elapsed = time.perf_counter() - self.t0
            self._write(
                f"{self.label} {self.done:,}{self._unit()} in {duration(elapsed)} "
                f"({self.done / max(elapsed, 1e-9):,.0f}/s)",
                end="\n",
            )

    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def _line(self, elapsed: float) -> str:
        rate = self.done / max(elapsed, 1e-9)
        if self.total is None:
            return f"{self.label} {self.done:,}{self._unit()} ({rate:,.0f}/s)"
        left = max(self.total - self.done, 0) / rate if rate > 0 else float("inf")
        eta = duration(left) if left != float("inf") else "?"
        return (
            f"{self.label} {self.done:,}/{'~' * self.approximate}{self.total:,}{self._unit()} "
            f"({rate:,.0f}/s, {eta} left)"
        )

    def _write(self, text: str, end: str) -> None:
        if not self.terminal:
            print(text, file=self.stream, flush=True)
            return
        print(f"\r{text.ljust(self._width)}", end=end, file=self.stream, flush=True)  # covers a longer previous line
        self._width = len(text)
