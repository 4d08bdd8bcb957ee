"""Is there a chaotic sliver at the edges of the kumar2017 oscillation window? An exploratory scan; no.

``experiments/kumar2017`` sweeps the bias in 12.5 mV steps. A relaxation oscillator
(here R_s C = 100 ns against R_th C_th = 0.3 ns) is born in a canard explosion: between the Hopf
point and the full relaxation cycle lies a window far narrower than that step, where orbits
follow the repelling slow branch and noise is amplified. Noise-driven irregular spiking there is a
candidate for the paper's "chaos from thermal fluctuations". This scan runs the experiment's own
``bias_sweep`` (tangent exponent over whole cycles, same noise realisation, FULL configuration)
on a fine bias grid across one edge of the window and prints every point.

Run: ``python -m experiments.kumar2017.probes.onset_scan LO_V HI_V N [SCALES [T_MEASURE_NS]]`` with SCALES the
noise amplitudes in units of the fluctuation-dissipation one (default ``0,1,3``) and T_MEASURE_NS
the measurement per bias (default the experiment's 16 us); about 20 s for 26 biases at 16 us.

What it showed on 2026-11-29, 2 cores (0.5 mV steps; exponents per ns):

- ``python -m experiments.kumar2017.probes.onset_scan 3.05 3.0625 26``: without noise the fixed
  point's exponent rises linearly to -0.014 at 3.0520 V, and at 3.0525 V the full relaxation
  cycle is there (period 190 ns, peak 1.543 V): any small-amplitude (canard) window is narrower
  than 0.5 mV. With noise
  the oscillator spikes at random below the onset (mean interval 1.1 us at 3.0515 V and 0.30 us
  at 3.0520 V with x1; 264 ns at 3.0500 V with x3), and the exponent stays at or below zero
  everywhere (largest +0.000).
- ``python -m experiments.kumar2017.probes.onset_scan 3.5125 3.525 26``: the cycle ends between 3.519 and
  3.5195 V without noise; with noise the spikes thin out over 3.519-3.525 V (mean interval up to
  14 us, x3 at 3.525 V) with negative exponents. The one positive estimate is +0.003 +- 0.002 per
  ns (1.5 standard errors, x1 at 3.5190 V), far from the experiment's threshold.

At this resolution the edges of the window looked like noise-driven excitability, with no
chaotic band. That conclusion was wrong. With 0.05 mV steps and 640 us per bias (the
experiment's ``onset_zoom``, added on 2026-11-30), the exponent is positive, by many standard
errors, in 3.05206-3.05246 V and 3.51871-3.51926 V. This scan did not find the low band because
it had no bias inside it (its points 3.0520 and 3.0525 V lie just outside), and because 16 us
gives errors of the size of the exponent there (about 1 per us). For example,
``python -m experiments.kumar2017.probes.onset_scan 3.0520 3.0525 26 0,0.1,0.3,1`` prints exponents of 0 to +3
per us at x1 on every bias of the low band, none more than 3 standard errors above zero.

How the bands depend on the noise (2026-11-30, 160 us per bias, 0.05 mV steps over +-0.5 mV of
each edge): ``python -m experiments.kumar2017.probes.onset_scan 3.05171 3.05271 21 0.3,3 160000`` and
``... 3.51861 3.51961 21 0.3,3 160000``. At a third of the fluctuation-dissipation noise one bias
of the low edge is positive (3.05231 V, +1.1 +- 0.3 per us) and none of the high edge; at three
times it every bias of both edges is negative (-1 to -3.8 per us): stronger noise synchronises
the oscillator. The chaos at the edges needs noise of about the fluctuation-dissipation size.
"""

import dataclasses
import sys

import numpy as np

import experiments.kumar2017 as K
from experiments.kumar2017.scan import bias_sweep


def main(argv):
    if len(argv) not in (3, 4, 5):
        raise SystemExit(__doc__.split("Run: ")[1].split("\n\n")[0])
    lo, hi, n = float(argv[0]), float(argv[1]), int(argv[2])
    if not (lo < hi and n >= 2):
        raise SystemExit(f"expected LO_V < HI_V and N >= 2; got {lo}, {hi}, {n}")
    scales = np.asarray([float(s) for s in (argv[3] if len(argv) >= 4 else "0,1,3").split(",")])
    t_measure = float(argv[4]) if len(argv) == 5 else K.FULL.t_measure_ns
    vins = np.linspace(lo, hi, n)
    r = bias_sweep(dataclasses.replace(K.FULL, t_measure_ns=t_measure), vins, scales)
    print(f"positive bands (per noise scale): {r['bands']}")
    for i, s in enumerate(scales):
        print(f"noise x{s:g}: bias V, exponent and standard error per ns, mean period ns, "
              "voltage peaks (count, min, max)")
        for j, v in enumerate(vins):
            pk = np.asarray(r["peaks"][i][j] if r["peaks"][i][j] is not None else [])
            span = f"{pk.min():.4f} {pk.max():.4f}" if pk.size else "- -"
            print(f"  {v:.5f}  {r['lam'][i, j]:+8.4f} +- {r['se'][i, j]:.4f}  "
                  f"{r['periods'][i, j]:8.1f}  {pk.size:4d} {span}")


if __name__ == "__main__":
    main(sys.argv[1:])
