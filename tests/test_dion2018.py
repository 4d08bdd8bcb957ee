"""DuffingDelayNode (one Duffing resonator with delayed feedback) and the dion2018 experiment."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from experiments.dion2018 import parity
from physnn.cli import main
from physnn.devices import DuffingDelayNode, DuffingNetwork, thermal_drive


def _network(node):
    """The same resonator as a one-element DuffingNetwork (rotating frame, no coupling)."""
    return DuffingNetwork(f0_mhz=node.f0_mhz, q=node.q, mass_kg=node.mass_kg,
                          k3_n_per_m3=node.k3_n_per_m3, drive_force_pn=node.drive_force_pn,
                          drive_mhz=node.drive_mhz, input_gain=jnp.reshape(node.input_gain, (1, 1)),
                          coupling_n_per_m=0.0, topology="none", temperature_k=0.0, n_resonators=1)


def test_zero_feedback_is_the_duffing_slow_flow():
    node = DuffingDelayNode(feedback_gain=0.0, input_gain=0.7, drive_mhz=2.2007, n_nodes=5)
    net = _network(node)
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.normal(0, 15, (64, 2)), jnp.float32)
    yd = jnp.asarray(rng.normal(0, 15, (64, 2)), jnp.float32)
    u = jnp.asarray(rng.uniform(-1, 1, (64, 1)), jnp.float32)
    d_node = node.drift(0.0, y, yd, u)
    d_net = net.drift(0.0, y[:, :, None], u)[:, :, 0]
    np.testing.assert_allclose(d_node, d_net, rtol=2e-5, atol=1e-6 * float(jnp.abs(d_net).max()))
    # the delayed state does not enter without feedback
    np.testing.assert_array_equal(node.drift(0.0, y, 0 * yd, u), d_node)


@pytest.mark.parametrize("eta, j", [(0.0, 0.0), (0.6, 0.0), (0.6, 0.4)])
def test_steady_state_matches_harmonic_balance(eta, j):
    node = DuffingDelayNode(feedback_gain=eta, input_gain=0.5, n_nodes=4, theta=150.0)
    roots = node.steady_state_amplitudes_nm(j)
    assert roots.size == 1  # monostable here: a single branch
    if eta == 0.0:  # DuffingNetwork's harmonic balance, in float64 (w^2 - w0^2 cancels)
        with jax.enable_x64(True):
            node64 = DuffingDelayNode(feedback_gain=0.0, drive_mhz=np.float64(2.2) + 3e-4,
                                      f0_mhz=np.float64(2.2), n_nodes=4, theta=150.0)
            hb = _network(node64).harmonic_balance_amplitudes(np.array([2.2 + 3e-4]))[0]
            ours = node64.steady_state_amplitudes_nm()
        np.testing.assert_allclose(ours, hb[~np.isnan(hb)], rtol=1e-9)
    drive = pn.Masked(jnp.full((60,), j), jnp.ones(4), theta=150.0)  # 60 tau = 62 ring-down times
    amp = pn.simulate(node, drive, dt=75.0, saveat="final").obs["amplitude_nm"][-1]
    assert float(amp) == pytest.approx(roots[0], rel=2e-4)


def test_feedback_raises_the_amplitude_and_loop_gain_above_one_saturates():
    low = DuffingDelayNode(feedback_gain=0.0).steady_state_amplitudes_nm()
    mid = DuffingDelayNode(feedback_gain=0.9).steady_state_amplitudes_nm()
    # linear resonator at resonance: a = a0 / (1 - eta)
    lin = DuffingDelayNode(feedback_gain=0.5, k3_n_per_m3=0.0)
    a0 = DuffingDelayNode(feedback_gain=0.0, k3_n_per_m3=0.0).steady_state_amplitudes_nm()[0]
    assert lin.steady_state_amplitudes_nm()[-1] == pytest.approx(2 * a0, rel=1e-6)
    assert mid.max() > low.max()
    # above unit loop gain the Duffing shift bounds the amplitude (finite roots)
    high = DuffingDelayNode(feedback_gain=1.5).steady_state_amplitudes_nm()
    assert high.size >= 1 and np.all(np.isfinite(high))


@pytest.mark.slow  # about 10 s: float64 solves and their gradient
def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        inputs = jnp.asarray(rng.uniform(-1, 1, 8))
        mask = jnp.asarray(rng.uniform(-1, 1, 5))

        base = DuffingDelayNode(n_nodes=5, theta=100.0, delay=560.0, delay_bound=700.0,
                                f0_mhz=np.float64(2.2))

        def loss(eta, gamma, tau):
            node = eqx.tree_at(lambda m: (m.feedback_gain, m.input_gain, m.delay), base,
                               (jnp.asarray(eta), jnp.asarray(gamma), jnp.asarray(tau)))
            ys = pn.simulate(node, pn.Masked(inputs, mask, 100.0), dt=100.0, observe=False,
                             max_delay=700.0).ys
            return jnp.sum(ys[:, 0] ** 2 + ys[:, 1] ** 2) / ys.shape[0]

        args = (0.7, 0.8, 560.0)
        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*args)
        loss = jax.jit(loss)
        steps = (1e-5, 1e-5, 1e-3)
        for i, (g, h) in enumerate(zip(grads, steps, strict=True)):
            up = list(args)
            dn = list(args)
            up[i] += h
            dn[i] -= h
            fd = (loss(*up) - loss(*dn)) / (2 * h)
            assert float(g) == pytest.approx(float(fd), rel=2e-4, abs=1e-9), i
        assert abs(float(grads[0])) > 0  # the feedback gain matters


@pytest.mark.slow  # about 7 s: 1200 delay periods, twice
def test_thermal_equipartition():
    node = DuffingDelayNode(drive_force_pn=0.0, feedback_gain=0.0, input_gain=0.0,
                            k3_n_per_m3=0.0, n_nodes=10)
    drive = thermal_drive(pn.Masked(jnp.zeros(1200), jnp.ones(10), float(node.theta)),
                          jax.random.key(0))
    ys = np.asarray(pn.simulate(node, drive, dt=float(node.theta) / 2, observe=False).ys)[300:]
    # m omega0^2 <x^2> = kT: each quadrature of A has rms sqrt(kT / (m omega0^2))
    assert ys.std(0) == pytest.approx(float(node.thermal_amplitude_nm()) * np.ones(2), rel=0.06)
    # same key, same noise
    again = thermal_drive(pn.Masked(jnp.zeros(1200), jnp.ones(10), float(node.theta)),
                          jax.random.key(0))
    np.testing.assert_array_equal(again.values, drive.values)


@pytest.mark.parametrize("kwargs, word", [
    (dict(q=-1.0), "q"), (dict(mass_kg=0.0), "mass_kg"), (dict(theta=0.0), "theta"),
    (dict(n_nodes=0), "n_nodes"), (dict(drive_force_pn=-1.0), "drive_force_pn"),
    (dict(feedback_gain=float("nan")), "feedback_gain"), (dict(temperature_k=-3.0), "temperature_k"),
    (dict(input_gain=np.ones(3), feedback_gain=np.ones(4)), "broadcast"),
    (dict(delay=-5.0), "delay"), (dict(drive_mhz=0.0), "drive_mhz"),
])
def test_bad_parameters_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        DuffingDelayNode(**kwargs)


def test_bad_drive_and_ensemble_steady_state():
    node = DuffingDelayNode(n_nodes=5)
    with pytest.raises(ValueError, match="Masked"):
        thermal_drive(pn.SampleAndHold(jnp.zeros(5), 1.0), jax.random.key(0))
    with pytest.raises(ValueError, match="n_nodes"):
        pn.simulate(node, pn.Masked(jnp.zeros(3), jnp.ones(4), float(node.theta)), dt=50.0)
    with pytest.raises(ValueError, match="n_nodes"):
        thermal_drive(pn.Masked(jnp.zeros(3), jnp.ones(4), float(node.theta)), jax.random.key(0),
                      node)
    with pytest.raises(ValueError, match="theta"):
        thermal_drive(pn.Masked(jnp.zeros(3), jnp.ones(5), 2 * float(node.theta)),
                      jax.random.key(0), node)
    with pytest.raises(ValueError, match="scalar parameters"):
        DuffingDelayNode(feedback_gain=np.array([0.1, 0.2])).steady_state_amplitudes_nm()


def _score(val_error, val_mse, test_error):
    return {3: {"val_error": val_error, "val_mse": val_mse, "test_error": test_error}}


def test_operating_points_are_chosen_on_validation_only():
    grid = [(0.5, 0.0, 0.0), (2.0, 0.0, 0.0), (0.5, 0.9, 0.0), (2.0, 0.0, 1.0), (2.0, 0.9, 1.0)]
    scores = [_score(0.30, 0.20, 0.10),  # eta = 0, the lowest test error
              _score(0.20, 0.18, 0.35),  # eta = 0, the lowest validation error and MSE
              _score(0.01, 0.05, 0.02),  # with feedback: the best overall
              _score(0.20, 0.19, 0.12),  # eta = 0, validation error tied, higher MSE
              _score(0.01, 0.04, 0.30)]  # with feedback: tied error, lower MSE, worse test
    assert parity.choose(scores) == 4
    assert parity.choose_without_feedback(grid, scores) == 1
    assert parity.choose(scores, [0, 3]) == 3
    assert parity.choose_without_feedback([(g, 0.5, d) for g, _, d in grid], scores) is None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):  # the quick run: the tests that use it are slow
    out = tmp_path_factory.mktemp("dion2018")
    assert main(["run", "dion2018", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_quick_parity_energy_and_codesign(quick):
    out, rec = quick
    m = rec["metrics"]
    assert rec["experiment"] == "dion2018" and rec["quick"] is True
    for fig in rec["figures"]:
        assert (out / fig).stat().st_size > 0
    # the paper's tasks: P1 and P2 are easy, P3 needs the delayed feedback
    assert m["parity1_test_error"] <= 0.01 and m["parity2_test_error"] <= 0.01
    assert m["parity3_test_error"] <= 0.03
    assert m["parity3_test_error_without_feedback"] > 0.15
    assert m["chosen_feedback_gain"] > 0
    worst = max(m[f"parity{n}_test_error"] for n in (1, 2, 3))
    assert worst <= m["parity_test_error_95_upper_bound"] <= worst + 4.0 / m["n_test_bits"]
    assert 0 < m["low_energy_point_energy_per_bit_j"] < 1e-12
    # energy = power x one delay period per bit; latency = (N + 1) theta
    n = rec["config"]["n_nodes"]
    ringdown = 2 * 4000.0 / (2 * math.pi * 2.2)
    assert m["latency_per_bit_us"] == pytest.approx((n + 1) * rec["config"]["theta_over_t"] * ringdown,
                                                    rel=1e-5)
    assert m["energy_per_bit_j"] == pytest.approx(m["mean_power_w"] * m["latency_per_bit_us"] * 1e-6)
    assert 1e-18 < m["energy_per_bit_j"] < 1e-12
    # co-design lowers the loss it was trained on
    assert m["codesign_p3_val_mse_after"] < m["codesign_p3_val_mse_before"]
    # FSDD (stand-in for TI-46) is far better than chance (WER 0.9)
    assert m["fsdd_wer_official"] < 0.5
    assert any("TI-46" in note for note in rec["notes"])
