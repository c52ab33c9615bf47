"""invert.core.analysis: batched posterior analysis with a stub posterior (no training)."""

import numpy as np
import pandas as pd

from invert.core.analysis import analyse


class StubPosterior:
    """p(x | y) = N(y, 0.1^2) per coordinate, row i drawn from its own stream (seed, rows[i]) like
    Posterior.sample; records the row numbers it was called with."""

    def __init__(self):
        self.rows = []

    def sample(self, y, n, seed=0, rows=None):
        rows = np.arange(len(y)) if rows is None else rows
        self.rows.append(list(rows))
        noise = [np.random.default_rng((seed, r)).standard_normal((n, y.shape[1])) for r in rows]
        return (np.asarray(y)[:, None, :] + 0.1 * np.array(noise).reshape(len(y), n, y.shape[1])).astype(np.float32)

    def draw(self, y, n, seed=0, rows=None):
        return self.sample(y, n, seed, rows), {"ess": np.full(len(y), float(n))}


def test_batches_summaries_extra_detailed_and_sink():
    y = np.linspace(-1, 1, 14, dtype=np.float32).reshape(7, 2)
    post, streamed = StubPosterior(), []
    result = analyse(
        post,
        y,
        ["a", "b"],
        prior_sd=np.array([1.0, 0.5]),
        n_samples=500,
        seed=3,
        extra=lambda s, y_b: {"spread": s.std(axis=1)[:, 0], "rows": np.full(len(y_b), len(y_b))},
        n_modes=1,
        batch=3,
        max_detailed=4,
        sink=lambda s, rows: streamed.append(s),
        progress=False,
    )
    assert post.rows == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(result.summary) == 7 and list(result.summary["rows"]) == [3, 3, 3, 3, 3, 3, 1]
    np.testing.assert_allclose(result.summary["a_median"], y[:, 0], atol=0.03)
    assert {"a_n_modes", "a_mode1", "a_weight1", "spread", "ess"} <= set(result.summary.columns)  # draw diagnostics too
    assert result.detailed.shape == (4, 500, 2)
    np.testing.assert_array_equal(np.concatenate(streamed)[:4], result.detailed)
    assert np.concatenate(streamed).shape == (7, 500, 2)
    assert abs(result.width_ratio["a"] - 0.1) < 0.01 and abs(result.width_ratio["b"] - 0.2) < 0.02


def test_no_observations():
    result = analyse(
        StubPosterior(),
        np.empty((0, 2), np.float32),
        ["a", "b"],
        np.ones(2),
        n_samples=50,
        extra=lambda s, y_b: {"spread": s.std(axis=1)[:, 0]},
        progress=False,
    )
    assert len(result.summary) == 0 and "spread" in result.summary and "a_map" in result.summary
    assert result.detailed.shape == (0, 50, 2) and np.isnan(result.width_ratio["a"])


def test_chunked_calls_give_the_results_of_one_call():
    y = np.random.default_rng(1).normal(size=(11, 2)).astype(np.float32)
    args = dict(names=["a", "b"], prior_sd=np.ones(2), n_samples=200, seed=5, progress=False)
    whole = analyse(StubPosterior(), y, batch=4, **args)
    parts = [
        analyse(StubPosterior(), y[a:b], batch=3, rows=np.arange(a, b), **args) for a, b in ((0, 5), (5, 6), (6, 11))
    ]
    pd.testing.assert_frame_equal(pd.concat([p.summary for p in parts], ignore_index=True), whole.summary)
    np.testing.assert_array_equal(np.concatenate([p.ratios for p in parts]), whole.ratios)
