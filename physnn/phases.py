r"""Phase readout of networks of coupled relaxation oscillators (Mott/VO2 cells).

Computing with oscillators reads the result from their phases: graph colouring (Parihar et al.,
Sci. Rep. 7, 911 (2017)) orders the nodes by phase, an oscillatory associative memory reads a
pixel as in phase or in anti-phase with a reference cell. This module holds what such studies
share:

- :class:`GraphOscillators`: cells of :class:`physnn.MottNetwork` coupled by capacitors, with the
  constant capacitance matrix factored once (:func:`capacitance_mix`);
- :func:`final_phases`: the phase of every oscillator at the end of a run, from its threshold
  crossings (the phase-cluster readout);
- :func:`frequency_cvs`: how far a network is from frequency locking.

The phases come from :func:`physnn.devices.mott.phase_from_spikes` (NumPy, after the solve).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .devices import AbstractDevice, MottNetwork
from .devices.mott import phase_from_spikes

__all__ = ["GraphOscillators", "capacitance_mix", "final_phases", "frequency_cvs"]


def capacitance_mix(node_f, coupling_f) -> jax.Array:
    r"""$M = \mathcal{C}^{-1}\,\mathrm{diag}(C)$ with $\mathcal{C} = \mathrm{diag}(C_j + \sum_k
    C^c_{jk}) - C^c$, the map from the uncoupled cells' $\dot V_j = I_j / C_j$ to the coupled
    network's $\dot V$ (charge conservation at every node joined by capacitors).

    **Arguments:**

    - `node_f`: $C_j$, the node capacitances, F, shape ``(..., n)``.
    - `coupling_f`: $C^c$, the coupling capacitances, F, shape ``(..., n, n)``, symmetric with
      a zero diagonal.

    **Returns:** $M$, shape ``(..., n, n)``.
    """
    node_f, coupling_f = jnp.asarray(node_f), jnp.asarray(coupling_f)
    n = coupling_f.shape[-1]
    cmat = jnp.eye(n) * (node_f + coupling_f.sum(-1))[..., None] - coupling_f
    return jnp.linalg.solve(cmat, jnp.eye(n) * node_f[..., None, :])


class GraphOscillators(AbstractDevice):
    r"""Relaxation oscillators on the nodes of a graph, a capacitor on every edge.

    The node equations are those of :class:`physnn.MottNetwork` with capacitive coupling,
    $\mathcal{C}\,\dot V = I_{\mathrm{net}}(V, T)$, $\mathcal{C} = \mathrm{diag}(C_j + \sum_k
    C^c_{jk}) - C^c$. The coupling is constant, so instead of solving with $\mathcal{C}$ at every
    stage (what ``MottNetwork.drift`` does) the uncoupled cells give $I_{\mathrm{net},j}/C_j$ and
    ``mix`` $= \mathcal{C}^{-1}\mathrm{diag}(C)$ (:func:`capacitance_mix`), factored once, maps it
    to $\dot V$: the same equations, one batched matrix product per stage. Temperatures (and the
    hysteretic cells' phase variable), noise, observables and power are the cells' own: ideal
    capacitors dissipate nothing.

    **Fields:**

    - `cells`: the uncoupled cells (their own resistive coupling, if any, stays in their drift).
    - `mix`: $M$, shape ``(B, n, n)`` or ``(n, n)`` (one for the whole batch).
    """

    cells: MottNetwork
    mix: jax.Array

    def init_state(self, batch_shape=(), voltage=0.0, temperature=None):
        return self.cells.init_state(batch_shape, voltage=voltage, temperature=temperature)

    def drift(self, t, y, u):
        d = self.cells.drift(t, y, u)
        dv = jnp.einsum("...jk,...k->...j", self.mix, d[..., 0, :])
        return d.at[..., 0, :].set(dv)  # T (and phi with hysteretic cells) as the cells give them

    def diffusion(self, t, y, u):
        return self.cells.diffusion(t, y, u)  # temperature noise of the cells (None without)

    def noise_drift(self, t, y, u):
        return self.cells.noise_drift(t, y, u)

    def input_shapes(self):
        return self.cells.input_shapes()

    def input_hint(self):
        return self.cells.input_hint()

    def observe(self, t, y, u):
        return self.cells.observe(t, y, u)

    def power(self, t, y, u):
        return self.cells.power(t, y, u)  # ideal capacitors dissipate nothing


def final_phases(ts, v) -> np.ndarray:
    r"""The phase of every oscillator at the end of a run: $\phi_j$ at the last sample where
    every oscillator of the network has a phase, each from its upward crossings of its mid-level
    $\frac12(\max_t V_j + \min_t V_j)$ (the $k$-th crossing is $2\pi k$, linear in between).

    **Arguments:**

    - `ts`: sample times, shape ``(n_t,)`` (any time unit).
    - `v`: the voltages, shape ``(n_t, B, n)`` (B networks of n oscillators), V.

    **Returns:** phases in $[0, 2\pi)$, rad, shape ``(B, n)``; a whole row NaN when some
    oscillator of that network crosses its mid-level less than twice (a silent oscillator).
    """
    v = np.asarray(v, float)
    if v.ndim != 3 or v.shape[0] != np.shape(ts)[0]:
        raise ValueError(f"final_phases: v has shape {v.shape}; expected (n_t, B, n) with "
                         f"n_t = len(ts) = {np.shape(ts)[0]}")
    thr = 0.5 * (v.max(0) + v.min(0))
    out = np.full(v.shape[1:], np.nan)
    for b in range(v.shape[1]):
        ph = np.stack([phase_from_spikes(ts, v[:, b, j], thr[b, j]) for j in range(v.shape[2])], 1)
        ok = np.nonzero(~np.isnan(ph).any(1))[0]
        if ok.size:
            out[b] = np.mod(ph[ok[-1]], 2 * np.pi)
    return out


def frequency_cvs(ts, v, sizes) -> np.ndarray:
    r"""The coefficient of variation $\mathrm{std}(f)/\mathrm{mean}(f)$ of the node frequencies of
    every network (0 when it is frequency-locked), each $f_j = \Delta\phi_j / (2\pi\Delta t)$
    from its first to its last upward mid-level crossing in the window.

    **Arguments:**

    - `ts`: sample times, shape ``(n_t,)``.
    - `v`: voltages, shape ``(n_t, B, n)``, V.
    - `sizes`: the number of real nodes of each network (the first ones; the rest is padding),
      length B, or the B adjacency matrices (their sizes are taken).

    **Returns:** shape ``(B,)``; NaN for a network without two crossings at any node.
    """
    v = np.asarray(v, float)
    mid = 0.5 * (v.max(0) + v.min(0))
    out = []
    for b, size in enumerate(sizes):
        n = np.shape(size)[0] if np.ndim(size) else int(size)
        f = []
        for j in range(n):
            ph = phase_from_spikes(ts, v[:, b, j], mid[b, j])
            ok = np.nonzero(~np.isnan(ph))[0]
            f.append((ph[ok[-1]] - ph[ok[0]]) / (ts[ok[-1]] - ts[ok[0]]) if ok.size > 1 else np.nan)
        out.append(np.nanstd(f) / np.nanmean(f))
    return np.asarray(out)
