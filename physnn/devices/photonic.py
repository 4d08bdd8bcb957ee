r"""Single nonlinear nodes with delayed feedback: the delay reservoirs of optical and
optoelectronic reservoir computing.

A delay reservoir is one nonlinear node whose output is fed back after a delay $\tau$. The input
is time multiplexed (:class:`physnn.drives.Masked`): each input sample is held for one delay
period, multiplied by a mask over $N$ *virtual nodes* of spacing $\theta = \tau / N$, and the
node's state at the end of each $\theta$ interval is one reservoir feature. With a node response
time comparable to $\theta$, neighbouring virtual nodes are coupled through the node's inertia.

Both nodes here have the low-pass form $T\dot x = -x + F(x(t-\tau), J(t))$, which
:func:`physnn.delay.delay_map` turns into the exact-in-$\theta$ map of the papers; the Ikeda
node also has a band-pass variant. They are integrated by :func:`physnn.simulate`, which sends
delay devices to physnn's delay integrator.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .. import _validate as V
from ._base import AbstractDelayDevice
from ._virtual_nodes import node_delay, virtual_node_count

__all__ = ["MackeyGlassNode", "IkedaNode"]


class MackeyGlassNode(AbstractDelayDevice):
    r"""The Mackey–Glass electronic node of Appeltant et al., Nat. Commun. 2, 468 (2011):

    $$\dot X(t) = -X(t) + \frac{\eta\,[X(t-\tau) + \gamma J(t)]}{1 + |X(t-\tau) + \gamma J(t)|^p}.$$

    Time is in units of the node's response time (``time_unit = "tau"``; in the electronic
    implementation of the paper this is about 10 ms). $J(t)$ is the masked input.

    **Arguments** (defaults: the paper's numerics):

    - `eta`: feedback strength $\eta > 0$ (paper: scanned; about 0.4-0.8 is good for NARMA10).
    - `gamma`: input scaling $\gamma$ (paper: scanned, about 0.005-0.05).
    - `p`: exponent $p > 0$ (paper: 1).
    - `n_nodes`: virtual nodes $N \ge 1$ (paper: 400).
    - `theta`: node spacing $\theta > 0$ (paper: 0.2).
    - `delay`: $\tau$; default $N\theta$ (``desync=1`` gives $(N+1)\theta$).
    - `power_w`: electrical power drawn by the node, for energy accounting (default 0: the
      normalised model has no power scale; set it for a given circuit).
    - `delay_bound`: the largest delay a training run may reach (sizes the integrator's
      history buffer when the delay is traced; default twice the initial delay, or, for a node
      built inside ``jax.grad``/``jax.jit`` with a traced ``delay``, twice the default delay
      $(N + \mathrm{desync})\theta$; pass it when ``theta`` is traced too).

    For $z = X(t-\tau) + \gamma J < 0$ the power $z^p$ is taken as the odd power
    $-|z|^p$ when $p$ is an odd integer (so $p = 1$ gives exactly $\eta z/(1+z)$, as in the
    paper) and as $|z|^p$ otherwise (where $z^p$ would not be real). With odd $p$ (the paper's
    $p = 1$) the node is singular at $z = -1$: where $1 + z^p \le 0$ the nonlinearity is NaN
    rather than the finite value the formula gives past the pole ($\eta z/(1+z) = 3\eta$ at
    $z = -1.5$), so a node driven across the pole stops :func:`physnn.simulate` with a
    :class:`~physnn.SimulationError` and makes the states of :func:`physnn.delay.delay_map` NaN
    from there on. With even or non-integer $p$, $1 + z^p \ge 1$ and there is no pole.
    """

    eta: Array
    gamma: Array
    p: Array
    theta: Array
    delay: Array
    power_w: Array
    n_nodes: int = eqx.field(static=True)
    delay_bound: float = eqx.field(static=True)
    time_unit: ClassVar[str] = "tau"
    #: a single node: no ensemble axes (one node per operating point)
    ensemble_params: ClassVar[dict[str, int]] = {}

    def __init__(self, eta=0.5, gamma=0.05, p=1.0, *, n_nodes: int = 400, theta=0.2, delay=None,
                 desync: int = 0, power_w=0.0, delay_bound=None):
        own = "MackeyGlassNode"
        self.n_nodes = virtual_node_count(n_nodes, own)
        self.eta = V.positive("eta", eta, owner=own)
        self.gamma = V.as_float("gamma", gamma, owner=own)
        self.p = V.positive("p", p, owner=own)
        self.theta = V.positive("theta", theta, owner=own)
        self.delay, self.delay_bound = node_delay(self.n_nodes, self.theta, delay, desync,
                                                  delay_bound, own, theta_arg=theta)
        self.power_w = V.positive("power_w", power_w, owner=own, allow_zero=True)

    def nonlinearity(self, x_delayed, j):
        z = x_delayed + self.gamma * j
        # z^p of the paper, extended to z < 0 as an odd power for odd integer p (p = 1: 1 + z)
        # and as |z|^p otherwise
        odd = jnp.mod(self.p, 2.0) == 1.0
        zp = jnp.abs(z) ** self.p * jnp.where(odd & (z < 0), -1.0, 1.0)
        # at and past the pole of odd p (1 + z^p <= 0, or a NaN input) the node is undefined: NaN,
        # which simulate and the callers' finite checks catch. The NaN sits in the numerator and
        # the denominator there is a safe 1, so no NaN reaches the gradients of valid points
        # (and valid points compute eta z / (1 + z^p) exactly as before, bit for bit)
        den = 1.0 + zp
        ok = den > 0
        return jnp.where(ok, self.eta * z, jnp.nan) / jnp.where(ok, den, 1.0)

    def map_form(self):
        """``(T, F)`` with ``T x' = -x + F(x_delayed, J)`` (see :func:`physnn.delay.delay_map`)."""
        return jnp.asarray(1.0), self.nonlinearity

    def init_state(self, batch_shape=()):
        return jnp.zeros(tuple(batch_shape))

    def drift(self, t, y, y_delayed, u):
        j = 0.0 if u is None else u[..., 0]
        return -y + self.nonlinearity(y_delayed, j)

    def input_shapes(self):
        """One input channel: the masked input $J(t)$, values of trailing shape ``(1,)`` (a
        :class:`~physnn.drives.Masked` drive or a one-channel sample-and-hold)."""
        return ((1,),)

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.broadcast_to(self.power_w, jnp.shape(y))


class IkedaNode(AbstractDelayDevice):
    r"""The optoelectronic (Mach–Zehnder) delay node of Larger et al., Opt. Express 20, 3241
    (2012) and Phys. Rev. X 7, 011015 (2017), in physical units (ns):

    low-pass:  $\tau_R\,\dot x = -x + \beta \sin^2\!\big(x(t-\tau_D) + \rho\,u(t) + \phi_0\big)$

    band-pass: $\tau_R\,\dot x = -x - \frac{1}{\theta_L}\int x\,\mathrm d s
    + \beta \sin^2\!\big(x(t-\tau_D) + \rho\,u(t) + \phi_0\big)$,

    where $x$ is the normalised RF voltage driving the modulator, $\beta$ the loop gain,
    $\phi_0$ the modulator's offset phase and $u$ the masked input. The band-pass form carries
    the integral $y = \int x$ as a second state variable (state shape ``batch + (2,)``; the
    low-pass state is ``batch``).

    **Arguments** (``time_unit = "ns"``):

    - `beta`: loop gain $\beta > 0$ (Larger 2012: about 0.5-1.5 for reservoir operation).
    - `rho`: input scaling $\rho$.
    - `phi0`: offset phase $\phi_0$ (rad); $-\pi/4$ sits at the quadrature point of $\sin^2$.
    - `tau_r`: fast response time $\tau_R > 0$ (ns).
    - `n_nodes`, `theta` (ns), `delay` $\tau_D$ (ns; default $N\theta$, ``desync`` as for
      :class:`MackeyGlassNode`).
    - `theta_l`: slow (high-pass) time constant $\theta_L > 0$ (ns) of the band-pass variant;
      ``None`` for the low-pass node.
    - `laser_power_w`: optical power into the modulator (W), for energy accounting.
    - `delay_bound`: the largest delay a training run may reach (sizes the integrator's
      history buffer when the delay is traced; default twice the initial delay, or, for a node
      built inside ``jax.grad``/``jax.jit`` with a traced ``delay``, twice the default delay
      $(N + \mathrm{desync})\theta$; pass it when ``theta`` is traced too).

    The defaults are order-of-magnitude values for a GHz-bandwidth telecom loop (response
    ~20 ps, node spacing ~50 ps, 1 mW laser), chosen so that $\theta/\tau_R$ is in the range used
    by the papers; they are not the exact values of a published set-up.
    """

    beta: Array
    rho: Array
    phi0: Array
    tau_r: Array
    theta: Array
    delay: Array
    theta_l: Array | None
    laser_power_w: Array
    n_nodes: int = eqx.field(static=True)
    delay_bound: float = eqx.field(static=True)
    time_unit: ClassVar[str] = "ns"
    #: a single node: no ensemble axes (one node per operating point)
    ensemble_params: ClassVar[dict[str, int]] = {}

    def __init__(self, beta=0.9, rho=1.0, phi0=-jnp.pi / 4, *, tau_r=0.02, n_nodes: int = 400,
                 theta=0.05, delay=None, desync: int = 0, theta_l=None, laser_power_w=1e-3,
                 delay_bound=None):
        own = "IkedaNode"
        self.n_nodes = virtual_node_count(n_nodes, own)
        self.beta = V.positive("beta", beta, owner=own)
        self.rho = V.as_float("rho", rho, owner=own)
        self.phi0 = V.as_float("phi0", phi0, owner=own)
        self.tau_r = V.positive("tau_r", tau_r, owner=own)
        self.theta = V.positive("theta", theta, owner=own)
        self.delay, self.delay_bound = node_delay(self.n_nodes, self.theta, delay, desync,
                                                  delay_bound, own, theta_arg=theta)
        self.theta_l = None if theta_l is None else V.positive("theta_l", theta_l, owner=own)
        self.laser_power_w = V.positive("laser_power_w", laser_power_w, owner=own, allow_zero=True)

    @property
    def band_pass(self) -> bool:
        return self.theta_l is not None

    def nonlinearity(self, x_delayed, u):
        return self.beta * jnp.sin(x_delayed + self.rho * u + self.phi0) ** 2

    def map_form(self):
        """``(T, F)`` with ``T x' = -x + F(x_delayed, u)``; low-pass node only."""
        if self.band_pass:
            raise ValueError("IkedaNode.map_form: the band-pass node (theta_l set) is second order; "
                             "the exact-in-theta map applies to the low-pass node only")
        return self.tau_r, self.nonlinearity

    def init_state(self, batch_shape=()):
        shape = tuple(batch_shape) + ((2,) if self.band_pass else ())
        return jnp.zeros(shape)

    def drift(self, t, y, y_delayed, u):
        j = 0.0 if u is None else u[..., 0]
        if not self.band_pass:
            return (-y + self.nonlinearity(y_delayed, j)) / self.tau_r
        x, integral = y[..., 0], y[..., 1]
        dx = (-x - integral / self.theta_l + self.nonlinearity(y_delayed[..., 0], j)) / self.tau_r
        return jnp.stack([dx, x], axis=-1)

    def input_shapes(self):
        """One input channel: the masked input $J(t)$, values of trailing shape ``(1,)`` (a
        :class:`~physnn.drives.Masked` drive or a one-channel sample-and-hold)."""
        return ((1,),)

    def observe(self, t, y, u):
        return y[..., 0] if self.band_pass else y

    def power(self, t, y, u):
        shape = jnp.shape(self.observe(t, y, u))
        return jnp.broadcast_to(self.laser_power_w, shape)
