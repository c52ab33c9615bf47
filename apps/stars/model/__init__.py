"""The physics and statistics of the stars app (docs/stars.md): the 12 lines (linelist), the
ClusterLite grid (grid), the dust laws (dust), distances (cosmology), the measurement model and the y encoding
(measurement_model), the problem (problem), the likelihood (likelihood), posterior-predictive checks (predictive),
the approximate reference posterior of `invert stars evaluate` (approximate_reference) and the simulated example
table (example). Nothing here reads users' files (io) or writes outputs (results, report)."""
