"""The logistic fit of the answer model against the optimum it must reach, and the
calibration error against a hand count."""

from __future__ import annotations

import numpy as np

from bench.logistic import fit_logistic
from qa.eval.metrics import expected_calibration_error, reliability


def test_the_fit_reaches_the_penalised_optimum_and_recovers_the_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    true = np.array([1.5, -0.4, 4.0])
    logit = (x - x.mean(0)) @ true + 0.3
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(float)
    model = fit_logistic(x, y, penalty=1e-6)
    p = model.probability(x)
    z = (x - model.mean) / model.scale
    gradient = np.hstack([z, np.ones((len(x), 1))]).T @ (p - y)
    assert np.abs(gradient).max() < 1e-5  # the optimum: the gradient vanishes
    assert np.allclose(model.weights / model.scale, true, atol=0.25)
    # a penalty shrinks the weights
    shrunk = fit_logistic(x, y, penalty=500.0)
    assert np.abs(shrunk.weights).sum() < np.abs(model.weights).sum()


def test_row_weights_count_as_repeated_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(float)
    weighted = fit_logistic(x, y, weights=np.where(np.arange(300) < 100, 2.0, 1.0))
    repeated = fit_logistic(np.vstack([x, x[:100]]), np.concatenate([y, y[:100]]))
    assert np.allclose(weighted.probability(x), repeated.probability(x), atol=0.02)


def test_calibration_error_is_the_weighted_gap_of_each_bin():
    confidence = np.array([0.05, 0.05, 0.95, 0.95, 0.95, 0.95])
    right = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    # bin 0: 2/6 of the answers, gap 0.05; bin 9: 4/6, |0.75 - 0.95| = 0.20
    assert abs(expected_calibration_error(confidence, right) - (2 / 6 * 0.05 + 4 / 6 * 0.2)) < 1e-9
    table = reliability(confidence, right)
    assert [(b, n) for b, n, _, _ in table] == [("0.0–0.1", 2), ("0.9–1.0", 4)]
