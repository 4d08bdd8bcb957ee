"""Does a slow second thermal node make the kumar2017 oscillator chaotic? An exploratory probe; no.

``experiments/kumar2017`` (when this probe was written) found no positive-exponent band:
its (V, T) model is two-dimensional, so it cannot be chaotic without noise, and across the window
the thermal noise synchronises it. (Its edge zoom has since found sub-millivolt noise-induced bands
at the two edges of the window; this probe asked for a broad deterministic band inside it.)
This probe adds the simplest physical third variable, the temperature T_s of the filament's
surroundings (oxide and electrodes), between the filament and the bath:

    C dV/dt     = (V_in - V)/R_s - V G(T, V)
    C_th dT/dt  = V^2 G(T, V) - (T - T_s)/R_1
    C_s dT_s/dt = (T - T_s)/R_1 - (T_s - T_amb)/R_2

with G the conductance of ``MottNetwork("NbO2")`` (defaults: C = 100 pF, R_s = 1 kOhm,
C_th = 1 fJ/K), R_1 = f R_th and R_2 = (1 - f) R_th (the DC thermal resistance R_th = 3e5 K/W is
kept), and C_s set by the surroundings' time constant tau = R_2 C_s. It sweeps V_in over
3.0-3.6 V (49 points), integrates deterministically (RK4, float64, dt in ns) for a transient of
5 tau, and prints the largest Lyapunov exponent from the tangent dynamics (``jax.jvp``,
``physnn.analysis.tangent_logs``, measured over whole cycles) at every bias where it exceeds three
standard errors, then the voltage peaks at the biases given with ``--peaks``.

Run: ``python -m experiments.kumar2017.probes.substrate_probe F TAU_NS [DT_NS] [T_MEASURE_NS]
[--peaks V1,V2]``
(about 1 minute at tau = 10 us).

What it showed on 2026-11-29, 2 cores (f in {0.2, 0.5, 0.8, 0.95}, tau in {30, 300, 1000, 3000,
10000} ns):

- With transients of 2-3 us and tau = 3 us, many biases gave exponents of 0.1-3 per us at more
  than three standard errors. With a transient of 5 tau they vanish (f = 0.8, tau = 3 us: +0.02
  per us, 1.7 standard errors, over 3.40-3.48 V): the slow node was still drifting.
- With 5 tau transients, the only adjacent positive points are at f = 0.5, tau = 10 us.
  ``python -m experiments.kumar2017.probes.substrate_probe 0.5 10000 0.02 30000 --peaks=3.45,3.455,3.46``
  prints +1.08 per us (3.2 standard errors) at 3.4500 V and +0.72 (3.4) at 3.4625 V; over a
  40 us window, 3.450 and 3.460 V gave +1.4 and +1.0 per us at dt 0.02 and 0.01 ns alike, with
  0.000 at 3.455 V between them. The voltage peaks at all three biases are constant to 2e-4 V
  over 20 us: a periodic orbit, on which the exponent estimate is an artefact, not chaos.

So a slow substrate temperature does not give the model a chaotic band either.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn import analysis as A

jax.config.update("jax_enable_x64", True)

C, R_S, C_TH, R_TH, T_AMB = 100e-12, 1e3, 1e-15, 3e5, 300.0  # the NbO2 defaults
WEIGHTS = (1.0, 0.01, 0.01)  # 1 V weighs as much as 100 K


def field_for(f, tau_ns):
    dev = pn.MottNetwork("NbO2")
    r1, r2 = f * R_TH, (1 - f) * R_TH
    c_s = tau_ns * 1e-9 / r2

    def field(y, vin):
        v, temp, ts = y[0], y[1], y[2]
        g = dev.conductance(temp[None], v[None])[0]
        return 1e-9 * jnp.stack([((vin - v) / R_S - v * g) / C,
                                 (v**2 * g - (temp - ts) / r1) / C_TH,
                                 ((temp - ts) / r1 - (ts - T_AMB) / r2) / c_s])
    return field


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--peaks")]
    peaks = [float(v) for a in sys.argv[1:] if a.startswith("--peaks")
             for v in a.split("=", 1)[1].split(",")]
    f, tau = float(args[0]), float(args[1])
    dt = float(args[2]) if len(args) > 2 else 0.02
    t_me = float(args[3]) if len(args) > 3 else 30000.0
    field = field_for(f, tau)
    k = 50
    bt = dt * k
    n_tr, n_me = int(5 * tau / bt), int(t_me / bt)
    key = jax.random.key(0)
    y0 = jnp.array([0.0, T_AMB, T_AMB])

    def lane(vin):
        step = A.rk4_step(lambda y: field(y, vin), dt)
        y = A.advance(step, y0, key, n_tr, k, 0)
        return A.tangent_logs(step, y, key, n_me, k, 0, WEIGHTS, first_block=n_tr)

    vins = np.linspace(3.0, 3.6, 49)
    logs, hi, lo = jax.jit(jax.vmap(lane))(jnp.asarray(vins))
    lam, se = A.exponents(logs, hi, lo, bt)
    hi, lo = np.asarray(hi), np.asarray(lo)
    amp = hi[:, n_me // 10:].max(1) - lo[:, n_me // 10:].min(1)
    osc = vins[amp > 0.02]
    print(f"f {f}, tau {tau} ns, dt {dt} ns: oscillates at {osc.size} of 49 biases "
          f"({osc.min() if osc.size else 0:.3f}-{osc.max() if osc.size else 0:.3f} V)")
    for v, lm, s in zip(vins, lam, se, strict=True):
        if lm > 3 * s and lm > 0:
            print(f"  V_in {v:.4f} V: exponent {lm * 1e3:+.3f} per us, {lm / s:.1f} standard errors")
    for vin in peaks:
        step = A.rk4_step(lambda y, vin=vin: field(y, vin), dt)
        y = A.advance(step, y0, key, n_tr, k, 0)
        def one(c, _, s=step):  # one step; the new state carries on, its voltage is saved
            c = s(c, None)
            return c, c[0]

        _, ys = jax.jit(lambda y: jax.lax.scan(one, y, None, length=int(20000 / dt)))(y)
        v = np.asarray(ys)
        pk = v[1:-1][(v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]) & (v[1:-1] > v.mean())]
        print(f"  V_in {vin} V: {pk.size} voltage peaks in 20 us, {pk.min():.4f}-{pk.max():.4f} V")


if __name__ == "__main__":
    main()
