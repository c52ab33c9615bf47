"""invert.core.analysis: batched posterior analysis with a stub posterior (no training)."""

import numpy as np

from invert.core.analysis import analyse


class StubPosterior:
    """p(x | y) = N(y, 0.1^2) per coordinate; records the seeds it was called with."""

    def __init__(self):
        self.seeds = []

    def sample(self, y, n, seed=0):
        self.seeds.append(seed)
        rng = np.random.default_rng(seed)
        return (np.asarray(y)[:, None, :] + 0.1 * rng.standard_normal((len(y), n, y.shape[1]))).astype(np.float32)


def test_batches_summaries_extra_detailed_and_sink():
    y = np.linspace(-1, 1, 14, dtype=np.float32).reshape(7, 2)
    post, streamed = StubPosterior(), []
    result = analyse(post, y, ["a", "b"], prior_sd=np.array([1.0, 0.5]), n_samples=500, seed=3,
                     extra=lambda s, y_b: {"spread": s.std(axis=1)[:, 0], "rows": np.full(len(y_b), len(y_b))},
                     n_modes=1, batch=3, max_detailed=4, sink=streamed.append, progress=False)
    assert post.seeds == [3, 6, 9]
    assert len(result.summary) == 7 and list(result.summary["rows"]) == [3, 3, 3, 3, 3, 3, 1]
    np.testing.assert_allclose(result.summary["a_median"], y[:, 0], atol=0.03)
    assert {"a_n_modes", "a_mode1", "a_weight1", "spread"} <= set(result.summary.columns)
    assert result.detailed.shape == (4, 500, 2)
    np.testing.assert_array_equal(np.concatenate(streamed)[:4], result.detailed)
    assert np.concatenate(streamed).shape == (7, 500, 2)
    assert abs(result.width_ratio["a"] - 0.1) < 0.01 and abs(result.width_ratio["b"] - 0.2) < 0.02


def test_no_observations():
    result = analyse(StubPosterior(), np.empty((0, 2), np.float32), ["a", "b"], np.ones(2), n_samples=50,
                     extra=lambda s, y_b: {"spread": s.std(axis=1)[:, 0]}, progress=False)
    assert len(result.summary) == 0 and "spread" in result.summary and "a_map" in result.summary
    assert result.detailed.shape == (0, 50, 2) and np.isnan(result.width_ratio["a"])
