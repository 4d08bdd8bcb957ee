"""The Mackey-Glass delay node at its pole: with odd p the node is singular at
z = X(t - tau) + gamma J = -1. Past the pole the nonlinearity is NaN (the formula would give a
finite value there and the states would jump), so that simulate stops with an error and the map's
states are NaN, while every valid point computes exactly what it did before."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


class _OldMackeyGlass(pn.MackeyGlassNode):
    """The node's nonlinearity before the pole check, for bit-for-bit comparisons."""

    def nonlinearity(self, x_delayed, j):
        z = x_delayed + self.gamma * j
        odd = jnp.mod(self.p, 2.0) == 1.0
        zp = jnp.abs(z) ** self.p * jnp.where(odd & (z < 0), -1.0, 1.0)
        return self.eta * z / (1.0 + zp)


def _drive(n_nodes, theta, u, seed=1, amp=1.0):
    mask = amp * jnp.where(jax.random.bernoulli(jax.random.key(seed), 0.5, (n_nodes,)), 1.0, -1.0)
    return pn.Masked(jnp.asarray(u), mask, theta)


@pytest.mark.parametrize("p", [1.0, 3.0])
def test_nonlinearity_is_nan_at_and_past_the_pole(x64, p):
    node = pn.MackeyGlassNode(eta=0.8, gamma=1.0, p=p, n_nodes=4)
    z = jnp.array([-3.0, -1.5, -1.0, -0.5, 0.0, 0.7, jnp.nan])
    f = np.asarray(node.nonlinearity(z, 0.0))
    assert np.all(np.isnan(f[:3])) and np.isnan(f[-1])
    zv = np.array([-0.5, 0.0, 0.7])
    want = 0.8 * zv / (1.0 + np.sign(zv) * np.abs(zv) ** p)
    np.testing.assert_allclose(f[3:6], want, rtol=1e-15)
    # the old formula was finite past the pole: eta z / (1 + z) = 3 eta at z = -1.5 (p = 1)
    if p == 1.0:
        old = _OldMackeyGlass(eta=0.8, gamma=1.0, p=p, n_nodes=4)
        assert float(old.nonlinearity(jnp.asarray(-1.5), 0.0)) == pytest.approx(2.4)


def test_even_p_has_no_pole(x64):
    node = pn.MackeyGlassNode(eta=0.8, gamma=1.0, p=2.0, n_nodes=4)
    z = jnp.array([-3.0, -1.5, -1.0, -0.5, 0.7])
    np.testing.assert_array_equal(node.nonlinearity(z, 0.0), 0.8 * z / (1.0 + z ** 2))


def test_a_node_driven_across_the_pole_stops_simulate_and_poisons_the_map(x64):
    # first sample: z = X + gamma J inside (-1, inf); second: gamma |J| = 3 pushes it past -1
    n, theta = 10, 0.2
    node = pn.MackeyGlassNode(eta=0.5, gamma=1.0, p=1.0, n_nodes=n, theta=theta)
    drive = pn.Masked(jnp.array([0.1, 3.0, 0.1]), -jnp.ones(n), theta)
    with pytest.raises(pn.SimulationError, match="non-finite"):
        pn.simulate(node, drive, dt=theta / 2)
    x = np.asarray(pn.delay_map(node, drive))
    assert np.all(np.isfinite(x[:n])) and np.all(np.isnan(x[n:]))
    # the old formula went through the pole silently: finite, jumping states
    old = _OldMackeyGlass(eta=0.5, gamma=1.0, p=1.0, n_nodes=n, theta=theta)
    x_old = np.asarray(pn.delay_map(old, drive))
    assert np.all(np.isfinite(x_old)) and x_old[n:].max() > 0.2
    assert np.all(np.isfinite(np.asarray(pn.simulate(old, drive, dt=theta / 2).ys)))


@pytest.mark.parametrize("theta, desync, eta", [(0.2, 1, 0.7), (2.0, 0, 0.4)])
def test_valid_points_are_bit_for_bit_as_before(x64, theta, desync, eta):
    n = 20
    u = jax.random.uniform(jax.random.key(0), (40,), maxval=0.5)
    drive = _drive(n, theta, u, amp=0.3)
    # (eta = 0.7 at theta = 2 crosses the pole: below z = eta - 1 the states run away to it)
    kw = dict(eta=eta, gamma=0.5, p=1.0, n_nodes=n, theta=theta, desync=desync)
    new, old = pn.MackeyGlassNode(**kw), _OldMackeyGlass(**kw)
    x_new = np.asarray(pn.delay_map(new, drive))
    assert np.all(np.isfinite(x_new)) and x_new.min() < 0  # negative z visited, none past the pole
    np.testing.assert_array_equal(x_new, np.asarray(pn.delay_map(old, drive)))
    np.testing.assert_array_equal(np.asarray(pn.simulate(new, drive, dt=theta / 2).ys),
                                  np.asarray(pn.simulate(old, drive, dt=theta / 2).ys))


def test_gradients_stay_finite(x64):
    """At a valid point the gradients equal the old formula's; past the pole no NaN leaks into
    the gradient of the valid entries (the NaN is selected, never differentiated)."""
    n, theta = 8, 0.2
    u = jax.random.uniform(jax.random.key(0), (15,), maxval=0.5)
    drive = _drive(n, theta, u)

    def loss(cls, eta, gamma):
        node = cls(eta=eta, gamma=gamma, n_nodes=n, theta=theta)
        return jnp.sum(pn.delay_map(node, drive) ** 2)

    g_new = jax.grad(lambda e, g: loss(pn.MackeyGlassNode, e, g), argnums=(0, 1))(0.7, 0.4)
    g_old = jax.grad(lambda e, g: loss(_OldMackeyGlass, e, g), argnums=(0, 1))(0.7, 0.4)
    assert all(np.isfinite(float(a)) for a in g_new)
    np.testing.assert_array_equal(np.asarray(g_new), np.asarray(g_old))

    z = jnp.array([-1.5, -1.0, -0.5, 0.3])
    valid = jnp.array([False, False, True, True])

    def masked(eta, z):
        f = pn.MackeyGlassNode(eta=eta, gamma=0.1, n_nodes=n).nonlinearity(z, 0.0)
        return jnp.sum(jnp.where(valid, f, 0.0))

    g_eta, g_z = jax.grad(masked, argnums=(0, 1))(0.7, z)
    assert np.isfinite(float(g_eta)) and np.all(np.isfinite(np.asarray(g_z)))
    np.testing.assert_allclose(g_z, [0.0, 0.0, 0.7 / 0.5 ** 2, 0.7 / 1.3 ** 2], rtol=1e-14)
    np.testing.assert_allclose(float(g_eta), -0.5 / 0.5 + 0.3 / 1.3, rtol=1e-14)
