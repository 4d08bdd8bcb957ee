"""The delay integrator and the delay nodes (Mackey-Glass, Ikeda): accuracy against an
independent high-accuracy reference, order of convergence, gradients (including with respect to
the delay) against finite differences, the exact-in-theta map, analytic fixed points, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import physnn as pn
from physnn.devices._base import AbstractDelayDevice


class MackeyGlass(AbstractDelayDevice):
    """x' = 0.2 x(t-tau)/(1+x(t-tau)^10) - 0.1 x, the chaotic Mackey-Glass system (tau = 17)."""

    delay: jax.Array
    beta: jax.Array
    time_unit = "t"

    def __init__(self, delay=17.0, beta=0.2):
        self.delay = jnp.asarray(delay)
        self.beta = jnp.asarray(beta)

    def init_state(self, batch_shape=()):
        return jnp.full(batch_shape, 1.2)

    def drift(self, t, y, yd, u):
        return self.beta * yd / (1 + yd**10) - 0.1 * y

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.zeros_like(y)


def reference(t_end, tau=17.0, history=lambda s: 1.2):
    """Independent method of steps: solve_ivp (DOP853, rtol 1e-13) one delay interval at a time,
    with the delayed term read from the dense output of the previous intervals."""
    pieces = []

    def xd(s):
        if s <= 0:
            return history(s)
        for a, b, sol in pieces:
            if a <= s <= b:
                return sol.sol(s)[0]
        raise AssertionError("delayed time not covered")

    t, x = 0.0, history(0.0)
    while t < t_end - 1e-12:
        b = min(t + tau, t_end)
        sol = solve_ivp(lambda s, y: [0.2 * xd(s - tau) / (1 + xd(s - tau) ** 10) - 0.1 * y[0]],
                        (t, b), [x], method="DOP853", rtol=1e-13, atol=1e-13, dense_output=True)
        pieces.append((t, b, sol))
        t, x = b, sol.y[0, -1]
    return x


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


T_END = 100.0  # shorter than the Lyapunov time of Mackey-Glass at tau = 17 (~ 1/0.007)


def test_mackey_glass_matches_reference_with_fourth_order(x64):
    ref = reference(T_END)
    errs = []
    for dt in (1.0, 0.5, 0.25, 0.125):
        x = pn.simulate(MackeyGlass(), None, dt=dt, t1=T_END, saveat="final").ys[-1]
        errs.append(abs(float(x) - ref))
    assert errs[-1] < 1e-8
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 3.6), orders  # classical RK4 + Hermite history: order 4


def test_history_function_matches_reference(x64):
    def hist(s):
        return 1.0 + 0.2 * jnp.sin(0.3 * s)

    ref = reference(60.0, history=lambda s: 1.0 + 0.2 * np.sin(0.3 * s))
    x = pn.simulate(MackeyGlass(), None, dt=0.125, t1=60.0, saveat="final", history=hist).ys[-1]
    assert abs(float(x) - ref) < 1e-7


def test_gradient_with_respect_to_a_fractional_delay(x64):
    def final(tau):
        return pn.simulate(MackeyGlass(tau), None, dt=0.25, t1=60.0, saveat="final",
                           max_delay=20.0).ys[-1]

    for tau in (17.3, 16.71):
        g = jax.jit(jax.grad(final))(tau)
        eps = 1e-5
        fd = (final(tau + eps) - final(tau - eps)) / (2 * eps)
        assert abs(float(g) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))
        assert abs(float(g)) > 1e-3  # a real dependence, not a zero gradient


def test_gradient_converges_to_the_continuous_sensitivity(x64):
    """d x(T)/d tau of the discrete solution approaches that of the exact solution (FD of the
    high-accuracy reference) at second order as the step shrinks: the step that holds the kink
    of x(t - tau) at t0 + tau is split there (it was first order before; see also
    tests/test_delay_gradient.py)."""
    tau = 17.3
    ref_g = (reference(40.0, tau=tau + 1e-4) - reference(40.0, tau=tau - 1e-4)) / 2e-4

    def final(t, dt):
        return pn.simulate(MackeyGlass(t), None, dt=dt, t1=40.0, saveat="final",
                           max_delay=20.0).ys[-1]

    errs = [abs(float(jax.grad(final)(tau, dt)) - ref_g) for dt in (0.1, 0.05, 0.025)]
    assert errs[-1] < 1e-3 * abs(ref_g)
    assert errs[0] / errs[1] > 2 ** 1.8 and errs[1] / errs[2] > 2 ** 1.8, errs


def test_gradient_with_respect_to_a_parameter(x64):
    def final(beta):
        return pn.simulate(MackeyGlass(beta=beta), None, dt=0.5, t1=50.0, saveat="final").ys[-1]

    g = jax.grad(final)(0.2)
    eps = 1e-6
    fd = (final(0.2 + eps) - final(0.2 - eps)) / (2 * eps)
    assert abs(float(g) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def _masked(n_nodes, theta, n_samples=30, seed=0, amp=1.0):
    u = jax.random.uniform(jax.random.key(seed), (n_samples,), maxval=0.5)
    mask = amp * jnp.where(jax.random.bernoulli(jax.random.key(seed + 1), 0.5, (n_nodes,)), 1.0, -1.0)
    return pn.Masked(u, mask, theta)


def test_batched_equals_per_sample(x64):
    node = pn.MackeyGlassNode(eta=0.8, gamma=0.3, n_nodes=20, theta=0.2)
    u = jax.random.uniform(jax.random.key(3), (3, 25), maxval=0.5)
    mask = jnp.linspace(-1, 1, 20)
    batched = pn.simulate(node, pn.Masked(u, mask, 0.2), dt=0.1).ys
    assert batched.shape == (25 * 20, 3)
    for i in range(3):
        single = pn.simulate(node, pn.Masked(u[i], mask, 0.2), dt=0.1).ys
        np.testing.assert_allclose(batched[:, i], single, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("desync", [0, 1])
def test_exact_map_approaches_continuous_solve(x64, desync):
    """The map holds the delayed feedback over each node interval; the continuous solve does not.
    Their RMS difference must shrink in proportion to theta (same delay, more nodes)."""
    tau = 8.0
    u = jax.random.uniform(jax.random.key(0), (12,), maxval=0.5)
    diffs = []
    for n in (40, 80, 160):
        theta = tau / n
        # gamma * mask * u stays well inside (-1, inf), where z/(1+z) is smooth
        node = pn.MackeyGlassNode(eta=0.9, gamma=0.5, p=1.0, n_nodes=n, theta=theta, desync=desync)
        mask = jnp.where(jax.random.bernoulli(jax.random.key(1), 0.5, (n,)), 0.5, -0.5)
        drive = pn.Masked(u, mask, theta)
        x_map = pn.delay_map(node, drive)
        x_ode = pn.simulate(node, drive, dt=theta / 8).ys
        assert x_map.shape == x_ode.shape == (12 * n,)
        rms = float(jnp.sqrt(jnp.mean((x_map - x_ode) ** 2)))
        diffs.append(rms / float(jnp.std(x_ode)))
    # the convergence rate is the property tested; the level is recorded for reference
    # (measured RMS/std 0.29, 0.13, 0.074 with desync 0)
    ratios = np.array(diffs[:-1]) / np.array(diffs[1:])
    assert np.all(ratios > 1.7), (diffs, ratios)


def test_exact_map_is_exact_for_held_feedback(x64):
    """With the node spacing equal to the step and a response time much longer than the step,
    the solve and the map agree closely, and the map's first delay period (feedback = history)
    is exactly the relaxation solution."""
    node = pn.MackeyGlassNode(eta=0.5, gamma=1.0, n_nodes=10, theta=0.3)
    drive = pn.Masked(jnp.array([0.4, 0.2]), jnp.linspace(-1, 1, 10), 0.3)
    x_map = pn.delay_map(node, drive, history=0.0)
    # first period: x_g = a x_{g-1} + (1-a) F(0, J_g) computed by hand
    a = np.exp(-0.3)
    x, want = 0.0, []
    for g in range(10):
        z = 1.0 * 0.4 * float(np.linspace(-1, 1, 10)[g])
        x = a * x + (1 - a) * 0.5 * z / (1 + z)  # p = 1: the paper's z/(1 + z)
        want.append(x)
    np.testing.assert_allclose(x_map[:10], want, rtol=1e-12)
    x_ode = pn.simulate(node, drive, dt=0.3 / 16).ys
    # feedback is exactly constant here, so the solve differs only by its RK4 error
    np.testing.assert_allclose(x_ode[:10], want, rtol=1e-7, atol=1e-10)


def test_mackey_glass_node_relaxes_to_its_fixed_point(x64):
    """Without input, x* = eta x*/(1 + x*) has the non-trivial root x* = eta - 1 for p = 1."""
    node = pn.MackeyGlassNode(eta=2.5, gamma=0.0, p=1.0, n_nodes=10, theta=0.2)
    x = pn.simulate(node, None, dt=0.1, t1=200.0, saveat="final", history=0.3).ys[-1]
    assert abs(float(x) - 1.5) < 1e-6


def test_ikeda_node_fixed_point_and_band_pass(x64):
    beta, phi0 = 0.6, -np.pi / 4
    node = pn.IkedaNode(beta=beta, phi0=phi0, n_nodes=10, theta=0.05, tau_r=0.02)
    x_star = brentq(lambda x: x - beta * np.sin(x + phi0) ** 2, -1, 2)
    x = pn.simulate(node, None, dt=0.01, t1=20.0, saveat="final").ys[-1]
    assert abs(float(x) - x_star) < 1e-6
    # band-pass: the integral term removes the DC level, so the node relaxes to x = 0
    bp = pn.IkedaNode(beta=beta, phi0=phi0, n_nodes=10, theta=0.05, tau_r=0.02, theta_l=0.5)
    tr = pn.simulate(bp, None, dt=0.01, t1=60.0, saveat="final")
    assert tr.ys.shape == (1, 2)
    assert abs(float(tr.obs[-1])) < 1e-4
    # and responds to a masked input with zero mean over long times
    drive = _masked(10, 0.05, n_samples=200, amp=0.5)
    tr = pn.simulate(bp, drive, dt=0.0125)
    assert np.all(np.isfinite(np.asarray(tr.obs)))
    assert float(jnp.std(tr.obs)) > 1e-3


@pytest.mark.slow
def test_ikeda_map_approaches_continuous_solve(x64):
    tau_d = 0.5  # ns
    u = jax.random.uniform(jax.random.key(0), (10,), maxval=0.5)
    diffs = []
    for n in (50, 100, 200):
        theta = tau_d / n
        node = pn.IkedaNode(beta=0.8, rho=1.0, n_nodes=n, theta=theta, tau_r=0.02)
        mask = jnp.where(jax.random.bernoulli(jax.random.key(1), 0.5, (n,)), 1.0, -1.0)
        drive = pn.Masked(u, mask, theta)
        x_map = pn.delay_map(node, drive)
        x_ode = pn.simulate(node, drive, dt=theta / 8).ys
        diffs.append(float(jnp.sqrt(jnp.mean((x_map - x_ode) ** 2))) / float(jnp.std(x_ode)))
    # first order in theta (ideal factor 4 over two halvings; measured 0.100, 0.061, 0.033)
    assert diffs[1] < diffs[0] and diffs[2] < diffs[1]
    assert diffs[0] / diffs[2] > 2.5, diffs


def test_gradient_through_masked_reservoir(x64):
    """d(loss)/d(eta, gamma, mask) through the continuous solve matches finite differences."""
    u = jax.random.uniform(jax.random.key(0), (15,), maxval=0.5)

    def loss(eta, gamma, mask):
        node = pn.MackeyGlassNode(eta=eta, gamma=gamma, n_nodes=8, theta=0.2)
        return jnp.sum(pn.simulate(node, pn.Masked(u, mask, 0.2), dt=0.1).ys ** 2)

    mask = jnp.linspace(-1, 1, 8)
    g = jax.grad(loss, argnums=(0, 1, 2))(0.7, 0.4, mask)
    eps = 1e-6
    assert abs(float(g[0]) - float((loss(0.7 + eps, 0.4, mask) - loss(0.7 - eps, 0.4, mask)) / (2 * eps))) \
        < 1e-6 * abs(float(g[0])) + 1e-9
    assert abs(float(g[1]) - float((loss(0.7, 0.4 + eps, mask) - loss(0.7, 0.4 - eps, mask)) / (2 * eps))) \
        < 1e-6 * abs(float(g[1])) + 1e-9
    e3 = jnp.zeros(8).at[3].set(eps)
    fd = (loss(0.7, 0.4, mask + e3) - loss(0.7, 0.4, mask - e3)) / (2 * eps)
    assert abs(float(g[2][3]) - float(fd)) < 1e-6 * abs(float(fd)) + 1e-9


def test_gradient_of_the_map(x64):
    u = jax.random.uniform(jax.random.key(0), (15,), maxval=0.5)

    def loss(eta):
        node = pn.MackeyGlassNode(eta=eta, gamma=0.4, n_nodes=8, theta=0.2)
        return jnp.sum(pn.delay_map(node, pn.Masked(u, jnp.linspace(-1, 1, 8), 0.2)) ** 2)

    g = jax.grad(loss)(0.7)
    fd = (loss(0.7 + 1e-6) - loss(0.7 - 1e-6)) / 2e-6
    assert abs(float(g) - float(fd)) < 1e-6 * abs(float(fd))


def test_node_states_layout():
    s = jnp.arange(12.0)
    np.testing.assert_array_equal(pn.node_states(s, 4), np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(pn.node_states(s, 4, discard=1), np.arange(4.0, 12.0).reshape(2, 4))
    with pytest.raises(ValueError, match="n_nodes=5"):
        pn.node_states(s, 5)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="theta"):
        pn.MackeyGlassNode(theta=0.0)
    with pytest.raises(ValueError, match="delay"):
        pn.MackeyGlassNode(delay=-1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        pn.MackeyGlassNode(n_nodes=0)
    with pytest.raises(ValueError, match="tau_r"):
        pn.IkedaNode(tau_r=-0.1)
    with pytest.raises(ValueError, match="theta"):
        pn.Masked(jnp.ones(3), jnp.ones(4), 0.0)
    node = pn.MackeyGlassNode(n_nodes=10, theta=0.2)
    with pytest.raises(ValueError, match="mask has 12 entries.*n_nodes=10"):
        pn.simulate(node, pn.Masked(jnp.ones(3), jnp.ones(12), 0.2), dt=0.1)
    with pytest.raises(ValueError, match="mask has 12 entries"):
        pn.delay_map(node, pn.Masked(jnp.ones(3), jnp.ones(12), 0.2))
    with pytest.raises(ValueError, match="theta=0.1.*theta=0.2"):
        pn.simulate(node, pn.Masked(jnp.ones(3), jnp.ones(10), 0.1), dt=0.1)
    with pytest.raises(ValueError, match="not a whole number of node intervals"):
        pn.delay_map(node, pn.Masked(jnp.ones(3), jnp.ones(10), 0.3))
    with pytest.raises(ValueError, match="shorter than the step"):
        pn.simulate(MackeyGlass(0.5), None, dt=1.0, t1=5.0)
    with pytest.raises(ValueError, match="max_delay"):
        jax.jit(lambda tau: pn.simulate(MackeyGlass(tau), None, dt=0.5, t1=5.0).ys)(17.0)
    with pytest.raises(ValueError, match="whole number of node intervals"):
        pn.delay_map(pn.MackeyGlassNode(n_nodes=10, theta=0.2, delay=2.05),
                     pn.Masked(jnp.ones(3), jnp.ones(10), 0.2))
    with pytest.raises(ValueError, match="band-pass"):
        pn.delay_map(pn.IkedaNode(n_nodes=10, theta=0.05, theta_l=1.0),
                     pn.Masked(jnp.ones(3), jnp.ones(10), 0.05))
    with pytest.raises(ValueError, match="key, solver, adjoint and adaptive"):
        pn.simulate(node, None, dt=0.1, t1=5.0, adaptive=True)


def test_blow_up_names_the_device_and_time():
    class Unstable(MackeyGlass):
        def drift(self, t, y, yd, u):
            return y**2 + yd

    with pytest.raises(pn.SimulationError, match="Unstable.*non-finite"):
        pn.simulate(Unstable(1.0), None, dt=0.1, t1=20.0, saveat="steps")


def test_jit_and_grad_of_a_whole_reservoir_run_is_reusable():
    """A jitted loss through simulate can be called again with new parameters (no retrace
    errors), as a training loop needs."""
    u = jax.random.uniform(jax.random.key(0), (10,), maxval=0.5)

    @eqx.filter_jit
    def loss(node):
        return jnp.mean(pn.simulate(node, pn.Masked(u, jnp.linspace(-1, 1, 6), 0.2), dt=0.2).ys ** 2)

    n1 = pn.MackeyGlassNode(eta=0.5, n_nodes=6, theta=0.2)
    n2 = pn.MackeyGlassNode(eta=0.9, n_nodes=6, theta=0.2)
    g1 = eqx.filter_grad(loss)(n1)
    g2 = eqx.filter_grad(loss)(n2)
    assert np.isfinite(float(g1.eta)) and np.isfinite(float(g2.eta))
    assert float(loss(n1)) != float(loss(n2))


@pytest.mark.slow
def test_float32_delays_that_round_either_way():
    """tau = (N+1) theta in float32 rounds below or above the exact product; both must run."""
    with jax.enable_x64(False):
        _float32_delays()


def _float32_delays():
    for n, theta in ((50, 0.2), (400, 0.2), (20, 0.0202)):
        node = pn.MackeyGlassNode(eta=0.5, gamma=0.2, n_nodes=n, theta=theta, desync=1)
        assert node.delay.dtype == jnp.float32
        drive = pn.Masked(jnp.linspace(0, 0.5, 4), jnp.ones(n), theta)
        tr = pn.simulate(node, drive, dt=theta)
        x_map = pn.delay_map(node, drive)
        assert np.all(np.isfinite(np.asarray(tr.ys)))
        assert float(jnp.max(jnp.abs(tr.ys - x_map))) < 0.1


def test_masks():
    m = pn.drives.binary_mask(jax.random.key(0), 400)
    assert m.shape == (400,)
    np.testing.assert_allclose(np.unique(np.asarray(m)), [-0.1, 0.1], rtol=1e-6)
    assert 150 < int(jnp.sum(m > 0)) < 250
    m2 = pn.drives.uniform_mask(jax.random.key(0), 50, 13, amplitude=2.0)
    assert m2.shape == (50, 13) and float(jnp.max(jnp.abs(m2))) <= 2.0
    np.testing.assert_array_equal(pn.drives.binary_mask(jax.random.key(0), 400), m)  # same key
    with pytest.raises(ValueError, match="n_nodes=0"):
        pn.drives.binary_mask(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="amplitude"):
        pn.drives.uniform_mask(jax.random.key(0), 4, amplitude=-1.0)


# ---- the vectorised method of steps (low-pass nodes) against the step-by-step scan ----------


def _both(node, drive, **kw):
    from physnn.delay import simulate_delay

    a = simulate_delay(node, drive, observe=False, **kw).ys
    b = simulate_delay(node, drive, observe=False, vectorise=False, **kw).ys
    return a, b


@pytest.mark.parametrize("theta,dt,desync,saves", [(0.2, 0.2, 1, ("holds", "final")),
                                                   (1.0, 0.25, 0, ("steps",))])
def test_vectorised_method_of_steps_equals_the_scan(x64, theta, dt, desync, saves):
    rng = np.random.default_rng(0)
    node = pn.MackeyGlassNode(eta=0.7, gamma=0.3, n_nodes=30, theta=theta, desync=desync)
    drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, 25)),
                      jnp.asarray(0.5 * rng.choice([-1.0, 1.0], 30)), theta)
    scale = None
    for save in saves:
        a, b = _both(node, drive, dt=dt, saveat=save)
        assert a.shape == b.shape
        if scale is None:  # the node is really driven
            scale = float(jnp.max(jnp.abs(b)))
            assert scale > 1e-2
        assert float(jnp.max(jnp.abs(a - b))) < 1e-12 * scale, save


@pytest.mark.slow
def test_vectorised_histories_batches_and_ikeda(x64):
    rng = np.random.default_rng(1)
    node = pn.MackeyGlassNode(eta=0.7, gamma=0.3, n_nodes=20, theta=0.5, desync=1)
    mask = jnp.asarray(0.1 * rng.choice([-1.0, 1.0], 20))
    drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, 30)), mask, 0.5)
    # a history function, and a y0 that jumps away from a constant history (read from the left
    # at t0 by later windows)
    for kw in ({"history": lambda t: 0.3 * jnp.sin(t)}, {"history": 0.2, "y0": jnp.asarray(0.5)}):
        a, b = _both(node, drive, dt=0.25, **kw)
        assert float(jnp.max(jnp.abs(a - b))) < 1e-12
    batch = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, (3, 30))), mask, 0.5)
    a, b = _both(node, batch, dt=0.25)
    assert a.shape == (600, 3) and float(jnp.max(jnp.abs(a - b))) < 1e-12
    ik = pn.IkedaNode(n_nodes=30, desync=1)
    drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, 30)),
                      jnp.asarray(0.1 * rng.choice([-1.0, 1.0], 30)), ik.theta)
    a, b = _both(ik, drive, dt=0.01)
    assert float(jnp.max(jnp.abs(b))) > 1e-2 and float(jnp.max(jnp.abs(a - b))) < 1e-12
    # the band-pass node is second order: it takes the scan, and both calls give the same
    bp = pn.IkedaNode(n_nodes=30, desync=1, theta_l=2.0)
    a, b = _both(bp, drive, dt=0.01)
    assert float(jnp.max(jnp.abs(a - b))) == 0.0


@pytest.mark.slow
def test_vectorised_gradient_in_a_traced_delay(x64):
    """With min_delay the traced delay keeps the vectorised path; its gradient matches the
    scan's and central finite differences, and a delay below min_delay is an error."""
    from physnn.delay import simulate_delay

    rng = np.random.default_rng(2)
    node = pn.MackeyGlassNode(eta=0.7, gamma=0.3, n_nodes=20, theta=0.5, desync=1)
    drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, 30)),
                      jnp.asarray(0.1 * rng.choice([-1.0, 1.0], 20)), 0.5)

    def loss(tau, vec):
        nd = eqx.tree_at(lambda m: m.delay, node, tau)
        ys = simulate_delay(nd, drive, dt=0.25, observe=False, max_delay=12.0, min_delay=9.0,
                            vectorise=vec).ys
        return jnp.sum(ys ** 2)

    tau = jnp.asarray(10.3)
    g_vec = jax.jit(jax.grad(loss), static_argnums=1)(tau, None)
    g_scan = jax.grad(loss)(tau, False)
    eps = 1e-5
    fd = (loss(tau + eps, None) - loss(tau - eps, None)) / (2 * eps)
    assert abs(float(g_vec)) > 1e-4
    assert abs(float(g_vec) - float(g_scan)) < 1e-10
    assert abs(float(g_vec) - float(fd)) < 1e-6 * abs(float(fd))
    with pytest.raises(Exception, match="min_delay"):
        jax.jit(loss, static_argnums=1)(jnp.asarray(8.5), None)
    with pytest.raises(ValueError, match="min_delay=-1"):
        simulate_delay(node, drive, dt=0.25, min_delay=-1.0)
