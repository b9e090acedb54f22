"""Logistic regression with an L2 penalty, fitted by Newton's method (IRLS) in numpy: the
answer model's scorer and confidence (:mod:`bench.answers`)."""

from __future__ import annotations

import numpy as np

from qa.answer.model import Logistic


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    penalty: float = 1.0,
    iterations: int = 50,
) -> Logistic:
    """The logistic model of ``y`` (0/1) given ``x``, each row weighted by ``weights``,
    over standardised features, with ``penalty`` times the squared weights (not the bias)
    added to the weighted log loss."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.ones(len(x)) if weights is None else weights
    ridge = np.full(z.shape[1], penalty)
    ridge[-1] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -40, 40)))
        gradient = z.T @ (w * (p - y)) + ridge * beta
        hessian = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(ridge) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(beta[:-1], float(beta[-1]), mean, scale)


def fit_choice(
    groups: list[tuple[np.ndarray, np.ndarray]], penalty: float = 1.0, iterations: int = 50
) -> Logistic:
    """A conditional logit: for each question (its candidates' features, and which hold a
    gold answer), the softmax of ``x @ w`` over its candidates should put its mass on the
    right ones (equally, when several are). Fitted by Newton's method, halving a step that
    does not lower the penalised loss, over standardised features; the bias is 0 (a
    softmax ignores it)."""
    x_all = np.vstack([x for x, _ in groups])
    mean = x_all.mean(axis=0)
    scale = x_all.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    zs = [((x - mean) / scale, y / y.sum()) for x, y in groups if y.any()]

    def loss(w: np.ndarray) -> float:
        total = 0.5 * penalty * float(w @ w)
        for z, target in zs:
            s = z @ w
            top = s.max()
            total -= float(target @ s) - (top + np.log(np.exp(s - top).sum()))
        return total

    w = np.zeros(x_all.shape[1])
    current = loss(w)
    for _ in range(iterations):
        gradient = penalty * w
        hessian = penalty * np.eye(len(w))
        for z, target in zs:
            s = z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            expected = p @ z
            gradient -= target @ z - expected
            hessian += (z * p[:, None]).T @ z - np.outer(expected, expected)
        step = np.linalg.solve(hessian, gradient)
        scale_step = 1.0
        while scale_step > 1e-4:
            candidate = w - scale_step * step
            value = loss(candidate)
            if value <= current:
                break
            scale_step /= 2
        w, improved = candidate, current - value
        current = value
        if np.abs(scale_step * step).max() < 1e-8 or 0 <= improved < 1e-10:
            break
    return Logistic(w, 0.0, mean, scale)
