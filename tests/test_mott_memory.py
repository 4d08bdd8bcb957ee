"""Associative memory in coupled VO2 oscillators (experiments/mott_memory/): pattern handling and
bad input, the Hebbian rule against the digital Hopfield network, the gradient of the recall
surrogate through the dynamics against finite differences (float64), and the quick experiment end
to end through the CLI (slow)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.mott_memory as E
from experiments.mott_memory import network, patterns, training


def test_bad_patterns_raise_clear_errors():
    with pytest.raises(ValueError, match=r"patterns\[0, 1\]=0.5; expected every pixel to be \+1"):
        patterns.check_patterns([[1.0, 0.5, -1.0]])
    with pytest.raises(ValueError, match=r"patterns has shape \(0, 25\): an empty pattern set"):
        patterns.hebbian_weights(np.zeros((0, 25)))
    with pytest.raises(ValueError, match=r"patterns has shape \(25,\); expected a \(P, N\) array"):
        patterns.hebbian_weights(np.ones(25))
    with pytest.raises(ValueError, match=r"letters=\['E', 'Q'\] contains \['Q'\]"):
        patterns.letter_patterns(["E", "Q"])
    with pytest.raises(ValueError, match=r"n_flips=13; expected 0 <= n_flips <= N/2 = 12"):
        patterns.corrupt(patterns.letter_patterns(["E"]), 13, 1, np.random.default_rng(0))


def test_hebbian_rule_and_digital_hopfield():
    xi = patterns.letter_patterns(E.QUICK.letters)
    w = patterns.hebbian_weights(xi)
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)
    # the stored letters are fixed points of the ideal network: every local field agrees in sign
    assert np.all(np.sign(xi @ w) == xi)
    rng = np.random.default_rng(0)
    cues, idx = patterns.corrupt(xi, 2, 3, rng)
    assert np.all((cues != xi[idx]).sum(1) == 2)
    rec = patterns.hopfield_recall(w, cues, rng)
    assert np.mean(np.all(rec == xi[idx], 1)) >= 0.9
    # the element map: a positive weight joins i+ j+ (and i- j-), a negative one i+ j- (and i- j+)
    g = np.asarray(network.coupling_conductances(jnp.asarray(w), E.DESIGN0))
    n = xi.shape[1]
    i, j = np.unravel_index(np.argmax(w), w.shape)
    k, m = np.unravel_index(np.argmin(w), w.shape)
    gu = E.DESIGN0["g_unit_us"] * 1e-6
    assert g[i, j] == pytest.approx(gu * w[i, j]) and g[n + i, n + j] == g[i, j]
    assert g[i, n + j] == 0
    assert g[k, n + m] == pytest.approx(-gu * w[k, m]) and g[k, m] == 0 and np.all(g >= 0)


@pytest.mark.slow
def test_gradient_through_the_dynamics_matches_finite_differences():
    config = dataclasses.replace(E.QUICK, t1_ns=3000.0, window_ns=1500.0, dt_ns=20.0)
    cycle = network.limit_cycle_states(E.DESIGN0, config)[0]  # float32 is fine for a start state
    rng = np.random.default_rng(1)
    xi = np.where(rng.random((3, 8)) < 0.5, -1.0, 1.0)  # 3 random patterns of 8 pixels
    cues, idx = patterns.corrupt(xi, 2, 1, rng)
    with jax.enable_x64(True):
        w = jnp.asarray(patterns.hebbian_weights(xi))
        direction = jnp.asarray(network.symmetric(rng.standard_normal((8, 8)) * 0.1))

        def loss(s):
            return training.surrogate_loss(w + s * direction, jnp.asarray(cues), jnp.asarray(xi[idx]),
                                    E.DESIGN0, jnp.asarray(cycle, jnp.float64), config)

        g = jax.grad(loss)(0.0)
        h = 1e-4
        fd = (loss(h) - loss(-h)) / (2 * h)
        assert abs(float(fd)) > 1e-3  # the couplings matter
        np.testing.assert_allclose(float(g), float(fd), rtol=1e-4)


EXPERIMENT = "mott-memory"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow
def test_quick_run_recalls_stored_letters_and_training_helps(quick_run):
    tmp_path, rec, printed = quick_run
    assert "heldout_gain_exact" in printed
    assert rec["experiment"] == "mott-memory" and rec["quick"] is True
    for fig in rec["figures"]:
        assert (tmp_path / fig).stat().st_size > 10_000
    m = rec["metrics"]
    assert m["silent_readouts"] == 0
    # uncorrupted letters are stable phase patterns of the oscillators (and of the digital net)
    assert m["hebbian_exact_0flips"] == 1.0 and m["digital_exact_0flips"] == 1.0
    # one flipped pixel out of 25: recalled (chance of an exact 25-pixel guess ~ 3e-8)
    assert m["hebbian_exact_1flips"] >= 0.9 and m["hebbian_overlap_1flips"] >= 0.95
    # learning through the physics: lower surrogate loss, no loss of held-out recall
    assert m["train_loss_last"] < m["train_loss_first"]
    assert m["trained_exact_corrupted_mean"] >= m["hebbian_exact_corrupted_mean"]
    assert m["train_cues_exact_trained"] >= m["train_cues_exact_hebbian"]
    # cost: positive energy, settling inside the run
    assert 0 < m["hebbian_energy_per_recall_uj"] < m["energy_full_run_uj"]
    assert 0 < m["hebbian_latency_median_us"] <= rec["config"]["t1_ns"] / 1e3
    w = np.asarray(rec["weights_trained"])
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)
