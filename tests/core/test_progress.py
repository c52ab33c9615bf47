"""The progress line: rewritten in place on a terminal, whole lines (at most every LOG_EVERY s) into a log file."""

import io

from invert.core import progress
from invert.core.progress import Progress, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_line_is_rewritten_in_place():
    stream = Terminal()
    meter = Progress("posteriors", 10, "rows", stream=stream, every=0.0)
    meter.advance(4)
    meter.advance(6)
    meter.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1
    assert "posteriors 4/10 rows" in text and "posteriors 10 rows in" in text


def test_log_file_gets_whole_lines_and_an_estimated_total(monkeypatch):
    stream = io.StringIO()
    clock = iter([0.0, 1.0, 40.0, 41.0, 50.0, 80.0, 81.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    meter = Progress("simulated", 100, "pairs", stream=stream, approximate=True)
    for _ in range(5):  # at 1, 40, 41, 50, 80 s: a line at 1 s, at 40 s and at 80 s (LOG_EVERY = 30 s apart)
        meter.advance(10)
    meter.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split(" (")[0] for line in lines] == [
        "simulated 10/~100 pairs",
        "simulated 20/~100 pairs",
        "simulated 50/~100 pairs",
        "simulated 50 pairs in 81 s",
    ]


def test_disabled_meter_is_silent():
    stream = io.StringIO()
    meter = Progress("x", 3, stream=stream, enabled=False)
    meter.advance(3)
    meter.close()
    assert stream.getvalue() == ""


def test_duration_words():
    assert [duration(s) for s in (42, 210, 7500)] == ["42 s", "3.5 min", "2 h 05 min"]
