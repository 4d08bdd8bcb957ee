"""coulombe2017: the parity targets, and the physics behind the result: a Duffing chain computes
3-bit parity with a linear readout, the same chain with linear springs cannot; the quick run end
to end through the CLI."""

import dataclasses

import numpy as np
import pytest

from experiments.coulombe2017 import FULL, QUICK, chain, parity
from physnn.tasks.parity import parity_targets

SMALL = dataclasses.replace(QUICK, n_resonators=8, n_bits=400, n_washout=30, n_train=250,
                            temperature_k=0.0)


def test_parity_targets_are_xors_of_the_last_n_bits():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, 200)
    for n in (3, 4, 5):
        expected = [int(np.sum(bits[max(0, k - n + 1): k + 1]) % 2) for k in range(len(bits))]
        np.testing.assert_array_equal(parity_targets(bits, n), expected)


@pytest.mark.slow  # two 400-bit solves of the chain: about 25 s on a shared 2-core machine
def test_parity_needs_the_duffing_nonlinearity():
    bits = np.random.default_rng(1).integers(0, 2, SMALL.n_bits)
    period = 0.5 * chain.ring_down_time_us(SMALL)
    key = None
    p3 = {}
    for name, k3 in (("duffing", 3e11), ("linear", 0.0)):
        feats, power = chain.run_stream(chain.reservoir(SMALL, [32.0], k3=k3), bits, period, SMALL, key)
        p3[name] = parity.success(feats[0], bits, SMALL)[0][0]
        assert power.shape == (1,) and 1e-16 < float(power[0]) < 1e-10  # W: pN forces, ~100 nm
    print("P3 success, Duffing chain vs linear chain:", p3)
    assert p3["duffing"] >= 0.95
    assert p3["linear"] <= 0.75  # 150 test bits: chance is 0.5 +- 0.08


def test_the_operating_point_is_chosen_on_validation_success_only():
    rng = np.random.default_rng(0)
    val = rng.uniform(0.5, 0.9, (3, 4, 5))
    test = rng.uniform(0.5, 0.9, (3, 4, 5))
    val[0, 1, 3], test[0, 2, 0] = 0.97, 1.0  # the best points disagree
    assert tuple(parity.choose_point(val)) == (1, 3)
    # the test map plays no part: the test-chosen point is another one
    assert tuple(parity.choose_point(test)) == (2, 0) != tuple(parity.choose_point(val))
    # ties in P3 go to the higher P4 + P5, then to the first point
    val[0] = 0.9
    val[1:, 3, 2] = 0.95
    assert tuple(parity.choose_point(val)) == (3, 2)
    assert tuple(parity.choose_point(np.full((3, 2, 2), 0.7))) == (0, 0)


def test_validation_success_uses_no_test_bit():
    rng = np.random.default_rng(2)
    cfg = dataclasses.replace(SMALL, n_bits=300, n_washout=20, n_train=200)
    bits = rng.integers(0, 2, cfg.n_bits)
    feats = rng.normal(size=(cfg.n_bits, 12))
    feats[:, 0] = bits  # makes P1-like information available; P3 stays near chance
    val = parity.validation_success(feats, bits, cfg)
    assert val.shape == (3,) and np.all((0 <= val) & (val <= 1))
    # other test bits and test features: the same validation success (and a different test one)
    bits2, feats2 = bits.copy(), feats.copy()
    bits2[cfg.n_train:] = 1 - bits2[cfg.n_train:]
    feats2[cfg.n_train:] = rng.normal(size=(cfg.n_bits - cfg.n_train, 12))
    np.testing.assert_array_equal(parity.validation_success(feats2, bits2, cfg), val)
    # the validation bits are the last quarter of the training bits after the washout: changing
    # them changes the score
    feats2[170:200] = 0.0
    assert not np.array_equal(parity.validation_success(feats2, bits2, cfg), val)


def test_configs_fit_the_time_budget():
    # quick < 2 min, full <= 15 min on 2 cores: bounded by the number of solver steps
    for cfg, max_steps in ((QUICK, 2e5), (FULL, 1.2e6)):
        tau = chain.ring_down_time_us(cfg)
        per_bit = sum(np.ceil(t * tau / cfg.samples_per_bit / cfg.dt_max_us)
                      * cfg.samples_per_bit for t in cfg.bit_periods_tau)
        assert per_bit * cfg.n_bits <= max_steps
    assert QUICK.n_train < QUICK.n_bits


@pytest.mark.parametrize("cfg", [QUICK, FULL])
def test_configs_are_consistent(cfg):
    assert cfg.n_washout < cfg.n_train < cfg.n_bits
    assert cfg.spreads[0] == 0.0


EXPERIMENT = "coulombe2017"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow
def test_quick_run_computes_parity_only_with_the_nonlinearity(quick_run):
    out, rec, printed = quick_run
    assert "p3_success" in printed and rec["quick"] is True
    for f in rec["figures"]:
        assert (out / f).stat().st_size > 10_000
    m, n_test = rec["metrics"], rec["config"]["n_bits"] - rec["config"]["n_train"]
    # the Duffing chain at the point chosen on validation computes P3 (at 300 K and without
    # noise) ...
    assert m["p3_validation_success"] >= 0.95
    assert m["p3_success"] >= 0.95 and m["p3_success_noise_free"] >= 0.95
    # ... the same chain with linear springs is at chance (4 standard errors on the test bits)
    assert abs(m["p3_success_linear_chain"] - 0.5) < 4 * 0.5 / np.sqrt(n_test)
    # higher orders are harder; a readout retrained on a perturbed chain beats a kept one
    assert m["p5_success"] <= m["p4_success"] <= 1.0
    assert m["p3_success_pre_training_sigma_1e-3"] >= m["p3_success_post_training_sigma_1e-3"]
    assert m["latency_per_bit_us"] == m["chosen_bit_period_us"] and m["energy_per_bit_j"] > 0
    # the chosen point is the validation map's choice, whatever the test map says
    i, j = rec["maps"]["chosen"]
    val = np.array([rec["maps"]["validation_success"][f"P{n}"] for n in (3, 4, 5)])
    assert (i, j) == tuple(parity.choose_point(val))
    assert m["p3_success"] == rec["maps"]["success"]["P3"][i][j]
    assert m["fsdd_accuracy"] > 0.5  # chance: 0.1


def test_the_robustness_spread_draws_one_factor_per_spring():
    """A spring is one element: its two entries k_ij = k_ji get one factor, so each link scatters
    by the full sigma (averaging two draws would give sigma / sqrt 2), and the matrix stays
    symmetric, as DuffingNetwork requires."""
    import jax

    sigma = 0.1
    dev = chain.reservoir(SMALL, [10.0], spread=sigma, n_trials=2000, key=jax.random.key(5))
    k = np.asarray(dev.coupling_n_per_m)[:, 0]  # (trials, N, N)
    np.testing.assert_array_equal(k, np.swapaxes(k, -1, -2))
    k0 = np.asarray(chain.reservoir(SMALL, [10.0]).coupling_n_per_m)
    link = k0 != 0
    np.fill_diagonal(link, False)
    rel = (k[:, link] / k0[link] - 1).ravel()
    assert abs(rel.std() / sigma - 1) < 0.05
