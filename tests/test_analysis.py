"""physnn.analysis and physnn.phases against known results: the logistic map at r = 4 (ln 2), a
linear decay (-gamma), the Lorenz system (0.906), tangent against two trajectories, whole-cycle
extrema and bands of a scan; the phases of a two-cluster state and frequency locking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn import analysis as A
from physnn import phases as P


def test_logistic_map_at_r4_has_exponent_ln2():
    """x' = 4 x (1 - x): lambda = ln 2 per iteration (the map is conjugate to the tent map)."""
    with jax.enable_x64(True):
        def step(x, xi):
            return 4.0 * x * (1.0 - x)

        y = A.advance(step, jnp.array([0.2345]), jax.random.key(0), 10, 10, 0)
        logs, _, _ = A.tangent_logs(step, y, jax.random.key(0), 2000, 5, 0, (1.0,))
    lam, se = A.exponent_from_logs(logs, 5.0)
    assert lam == pytest.approx(np.log(2.0), abs=max(4 * se, 0.02))
    assert se < 0.02


def test_linear_decay_has_exponent_minus_gamma_by_both_methods():
    """dy/dt = -gamma y (RK4, h = 0.01): every perturbation decays at exactly the rate of the
    RK4 amplification factor, -gamma to O(h^4)."""
    gamma, h = 0.7, 0.01
    with jax.enable_x64(True):
        step = A.rk4_step(lambda y: -gamma * y, h)
        y = jnp.array([1.0, -2.0])
        key = jax.random.key(0)
        logs, _, _ = A.tangent_logs(step, y, key, 200, 10, 0, (1.0, 1.0))
        logs2 = A.two_trajectory_logs(step, y, key, 200, 10, 0, (1.0, 1.0), 1e-8)
    lam, se = A.exponent_from_logs(logs, 10 * h)
    lam2, _ = A.exponent_from_logs(logs2, 10 * h)
    assert lam == pytest.approx(-gamma, rel=1e-8) and se < 1e-8
    assert lam2 == pytest.approx(-gamma, rel=1e-6)


def test_lorenz_exponent_and_the_two_methods_agree():
    """Lorenz (10, 28, 8/3): lambda = 0.906 (Sprott 2003). T = 200 time units: the finite-time
    exponent fluctuates by about 0.01 (its standard error); 0.04 is about 4 of them."""
    with jax.enable_x64(True):
        def field(y):
            return jnp.stack([10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1],
                              y[0] * y[1] - 8.0 / 3.0 * y[2]])

        step = A.rk4_step(field, 0.01)
        key = jax.random.key(0)

        @jax.jit
        def go(y0):
            y = A.advance(step, y0, key, 100, 10, 0)
            a = A.tangent_logs(step, y, key, 2000, 10, 0, (1.0, 1.0, 1.0))[0]
            b = A.two_trajectory_logs(step, y, key, 2000, 10, 0, (1.0, 1.0, 1.0), 1e-8)
            return a, b

        a, b = go(jnp.array([1.0, 1.0, 1.0]))
    lam, se = A.exponent_from_logs(a, 0.1)
    lam2, _ = A.exponent_from_logs(b, 0.1)
    assert se < 0.02
    assert abs(lam - 0.9056) < 0.04
    assert abs(lam - lam2) < 1e-3  # same trajectory, same renormalisation: O(d0) apart


def test_heun_step_has_the_ornstein_uhlenbeck_variance():
    """dy = -y dt + s dW: stationary variance s^2 / 2 (to O(h))."""
    s, h = 0.5, 0.01
    with jax.enable_x64(True):
        step = A.heun_step(lambda y: -y, h, jnp.array([s]))
        ys = jax.vmap(lambda k: A.advance(step, jnp.zeros(1), k, 40, 25, 1))(
            jax.random.split(jax.random.key(1), 2000))
        var = float(jnp.var(ys))
    assert var == pytest.approx(s**2 / 2, rel=0.1)


def test_cycle_aligned_exponent_of_a_limit_cycle_is_zero():
    """A tangent norm that swings by e within every period but does not grow: over whole cycles
    the exponent is 0; the plain regression slope is biased by the window's phase."""
    n, period, bt = 4000, 97, 1.0
    k = np.arange(n)
    swing = np.where(k % period < 10, 1.0, 0.0)  # log-norm rises by 1 early in a cycle ...
    logs = swing - 10.0 / (period - 10) * (1 - swing)  # ... and falls back over the rest
    hi = 1.0 + 0.5 * ((k % period) / period)  # a sawtooth observable, same period
    lo = hi - 0.01
    lam, se = A.exponent_cycle_aligned(logs, hi, lo, bt)
    assert abs(lam) < 1e-12 and se < 1e-12
    lam_v, se_v = A.exponents(np.stack([logs, logs]), np.stack([hi, hi]), np.stack([lo, lo]), bt)
    assert lam_v.shape == (2,) and np.all(np.abs(lam_v) < 1e-12)


def test_cycle_extrema_whole_cycles_and_quiescence():
    t = np.arange(3000.0)
    saw = 1.185 + 0.358 * ((t / 150.0) % 1.0)
    peaks, troughs, period = A.cycle_extrema(saw + 1e-3, saw, 1.0)
    assert period == pytest.approx(150.0, rel=0.01)
    assert np.allclose(peaks, peaks[0], atol=3e-3) and np.all(troughs < 1.19)
    level, level2, p = A.cycle_extrema(np.full(100, 2.0), np.full(100, 1.99), 1.0)
    assert np.isnan(p) and level == pytest.approx([1.995]) and level2 == pytest.approx([1.995])


def test_find_bands():
    v = np.linspace(3.0, 3.9, 10)
    flags = [False, True, True, False, True, False, True, True, True, True]
    assert A.find_bands(flags, v, 2) == [[v[1], v[2]], [v[6], v[9]]]
    assert A.find_bands(flags, v, 1)[1] == [v[4], v[4]]
    assert A.find_bands([False] * 3, v[:3], 1) == []


def _two_cluster_voltages(n=6, period=100.0, split=(0, 1, 0, 1, 1, 0), offset=0.3):
    """Sawtooth voltages: the nodes of cluster 0 cross their mid-level upwards at phase 0, those
    of cluster 1 half a period later; ``offset`` (rad) rotates the whole state."""
    ts = np.arange(0.0, 1000.0, 0.5)
    shift = (np.pi * np.asarray(split) + offset) / (2 * np.pi) * period
    v = 1.0 + ((ts[:, None] + shift[None, :]) / period) % 1.0
    return ts, v


def test_final_phases_split_a_two_cluster_state():
    split = np.array([0, 1, 0, 1, 1, 0])
    ts, v = _two_cluster_voltages(split=split)
    ph = P.final_phases(ts, np.stack([v, v], 1))  # two identical networks
    assert ph.shape == (2, 6) and np.all((ph >= 0) & (ph < 2 * np.pi))
    rel = np.angle(np.exp(1j * (ph[0] - ph[0, 0])))
    np.testing.assert_allclose(np.abs(rel), np.pi * split, atol=0.05)
    # a silent oscillator: its network has no phases
    silent = np.stack([v, v], 1)
    silent[:, 1, 2] = 1.0
    ph = P.final_phases(ts, silent)
    assert np.all(np.isnan(ph[1])) and not np.isnan(ph[0]).any()
    with pytest.raises(ValueError, match=r"v has shape \(2000, 6\); expected \(n_t, B, n\)"):
        P.final_phases(ts, v)


def test_frequency_cvs_is_zero_when_locked():
    ts, v = _two_cluster_voltages()
    ts2, v2 = _two_cluster_voltages(period=110.0)
    both = np.stack([v, np.concatenate([v[:, :3], v2[:, 3:]], 1)], 1)
    cv = P.frequency_cvs(ts, both, [6, 6])
    assert cv[0] < 1e-6
    f = np.array([1 / 100.0] * 3 + [1 / 110.0] * 3)
    np.testing.assert_allclose(cv[1], np.std(f) / np.mean(f), rtol=0.02)


def test_graph_oscillators_solve_the_capacitively_coupled_network():
    """GraphOscillators (the capacitance matrix factored once) gives the same dV/dt as
    MottNetwork solving with its own coupling capacitors, and the mix M = C^-1 diag(C) passes a
    common-mode current unchanged (no current flows through the capacitors)."""
    with jax.enable_x64(True):
        c = jnp.array([145e-12, 120e-12, 100e-12])
        cc = 1e-12 * jnp.array([[0.0, 30.0, 10.0], [30.0, 0.0, 20.0], [10.0, 20.0, 0.0]])
        mix = np.asarray(P.capacitance_mix(c, cc))
        np.testing.assert_allclose(mix.sum(1), 1.0, rtol=1e-12)
        cells = pn.MottNetwork("VO2", capacitance_f=c, source_voltage_v=6.0)
        coupled = pn.MottNetwork("VO2", capacitance_f=c, source_voltage_v=6.0,
                                 coupling_capacitance_f=cc)
        net = P.GraphOscillators(cells, P.capacitance_mix(c, cc))
        y = net.init_state((), voltage=jnp.array([1.0, 2.0, 1.5]), temperature=330.0)
        np.testing.assert_allclose(np.asarray(net.drift(0.0, y, None)),
                                   np.asarray(coupled.drift(0.0, y, None)), rtol=1e-10)
        assert net.diffusion(0.0, y, None) is None
        np.testing.assert_allclose(np.asarray(net.power(0.0, y, None)),
                                   np.asarray(cells.power(0.0, y, None)))
