"""Shared test helpers: tiny devices with known analytic solutions."""

import equinox as eqx
import jax.numpy as jnp
import pytest

from physnn.devices import AbstractDevice


class Relaxation(AbstractDevice):
    """dy/dt = -(y - u) / tau: a leaky integrator with exact solutions for held inputs."""

    tau: jnp.ndarray
    noise: jnp.ndarray = eqx.field(default_factory=lambda: jnp.asarray(0.0))

    def init_state(self, batch_shape=()):
        return jnp.zeros(tuple(batch_shape) + (1,))

    def drift(self, t, y, u):
        u = 0.0 if u is None else u
        return -(y - u) / self.tau

    def diffusion(self, t, y, u):
        return jnp.broadcast_to(self.noise, y.shape)

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.sum(y**2, axis=-1)


class BlowUp(AbstractDevice):
    """dy/dt = y^2 from y(0) = 1: finite-time blow-up at t = 1."""

    def init_state(self, batch_shape=()):
        return jnp.ones(tuple(batch_shape) + (1,))

    def drift(self, t, y, u):
        return y**2

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.zeros(y.shape[:-1])


@pytest.fixture
def relaxation():
    return Relaxation(tau=jnp.asarray(2.0))
