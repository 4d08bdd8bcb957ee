"""Does a hysteretic NbO2 IMT make the kumar2017 oscillator chaotic? An exploratory probe; no.

``experiments/kumar2017`` found no positive-exponent band inside the window with the
two-variable (V, T) model (its edge zoom has since found sub-millivolt noise-induced bands at the
two edges). Kumar et al. (2017) attribute the chaos to two NDR regions, one from the transport and one
from the Mott transition, and to a history-dependent resistance. This probe gives the model both:

- the activation energy is raised to 0.2 eV, which gives the static I-V curve a Frenkel-Poole NDR
  at 400-970 K besides the Mott NDR at the 1070 K IMT;
- the IMT gets a hysteresis loop, ``MottNetwork(..., hysteretic=True)``, of width h, with
  switching time tau_s.

The state is then (V, T, phi). The probe integrates one oscillator deterministically (RK4, float64)
for 14 us. Over the last 10 us it prints the ranges of V, T and phi and the number of distinct
voltage peaks. It then starts a second trajectory 1e-9 V away and prints their separation over
4 us.

Run: ``python -m experiments.kumar2017.probes.hysteretic_probe H_K V_IN [TAU_NS] [DT_NS]`` (about 30 s).

What it showed on 2026-11-29, at h = 60 K, V_in = 4.0 V, tau_s = 0.1 ns:

| dt | separation after 0.5 us | after 4 us |
|---|---:|---:|
| 0.02 ns | 2.3e-4 V | 6.9e-4 V |
| 0.01 ns | 1.8e-13 V | 3.2e-15 V |

Halving the step removes the divergence, so the growth at dt = 0.02 ns is a step-size artefact of
the fast switching, not chaos. A tangent-exponent sweep at dt = 0.02 ns (h = 0, 20, 60 K; 1-6 V)
had shown apparently positive exponents at (20 K, 3.6 V) and (60 K, 4.0 V). At h = 0 the
trajectories do not separate at either step size.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.analysis import rk4_step

jax.config.update("jax_enable_x64", True)


def main():
    hk, vin = float(sys.argv[1]), float(sys.argv[2])
    tau = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    dt = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
    dev = pn.MottNetwork("NbO2", hysteretic=True, hysteresis_k=hk, switching_time_ns=tau,
                         activation_ev=0.2, source_voltage_v=vin)
    rk = rk4_step(lambda y: dev.drift(0.0, y.reshape(3, 1), None).reshape(3), dt)

    def step(y):
        return rk(y, None)  # deterministic: no noise increment

    def run(y, n):
        def body(c, _):
            c = step(c)
            return c, c

        return jax.lax.scan(body, y, None, length=n)

    _, ys = jax.jit(run, static_argnums=1)(jnp.array([0.0, 300.0, 0.0]), int(14000 / dt))
    ys = np.asarray(ys)[int(4000 / dt):]
    v, temp, phi = ys.T
    peaks = v[1:-1][(v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:])]
    print(f"h {hk} K, V_in {vin} V, tau_s {tau} ns, dt {dt} ns: V {v.min():.3f}-{v.max():.3f} V, "
          f"T {temp.min():.0f}-{temp.max():.0f} K, phi {phi.min():.3f}-{phi.max():.3f}; "
          f"{len(np.unique(np.round(peaks, 4)))} distinct voltage peaks")

    def pair(c, _):
        a, b = step(c[0]), step(c[1])
        return (a, b), jnp.abs(a[0] - b[0])

    y1 = jnp.asarray(ys[-1])
    n = int(4000 / dt)
    _, d = jax.jit(lambda a, b: jax.lax.scan(pair, (a, b), None, length=n))(
        y1, y1 + jnp.array([1e-9, 0.0, 0.0]))
    d = np.asarray(d)
    for t in (100, 500, 1000, 2000, 3999):
        print(f"  separation |dV| after {t} ns: {d[int(t / dt)]:.2e} V")


if __name__ == "__main__":
    main()
