"""The walk bound of a single S vacancy (``experiments/vs_walk_bound.py``): the exact decoder is the
best of the three, and the shipped rings come close to it."""
import numpy as np
import pytest
from vs_walk_bound import bound, exact_matrix, exact_posterior, generator_rates, patch


def test_the_exact_chain_is_stochastic_and_its_posterior_sums_to_at_most_one():
    nb, adj = patch(5)
    assert (adj.sum(1) == 6).all() and nb.shape == (25, 6)
    T = exact_matrix(adj, 1e-4, 0.036, 0.06)
    assert np.allclose(T.sum(1), 1) and (T >= 0).all()
    start = np.r_[0.9, np.full(25, 0.1 / 25)]
    post = exact_posterior(np.random.default_rng(0).normal(size=(25, 30)), T, start)
    assert post.shape == (25, 30) and np.all(post.sum(0) <= 1 + 1e-9)


def test_rings_come_close_to_the_bayes_posterior_and_beat_each_sites_own_history():
    r = bound(1.44, patches=40, side=8, frames=150, appear=1e-4, rates=generator_rates(),
              false_rate=1e-4, seed=1)
    assert r["walker_frames"] > 500
    exact, ring, own = (r[k]["recall_at_half"] for k in ("exact", "ring", "own site"))
    assert exact >= ring - 0.02  # no decoder beats the posterior by more than sampling noise
    assert ring >= exact - 0.05 and ring > own + 0.05
    assert 0.6 < exact < 0.95  # a 1.44-noise-width vacancy walking at the generator's rates
    assert r["exact"]["false_rate_at_half"] < 1e-3
