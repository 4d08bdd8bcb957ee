"""Do the parihar2017 networks lock, and do neighbours fire apart? A probe of one design.

It runs the first 20 held-out planted 3-colourable graphs of the FULL config, 2 restarts each,
with the anhysteretic VO2 cells of ``experiments/parihar2017``. The design is the hand
design with the given bias, coupling capacitance per edge and full trim, run through the
experiment's ``evaluate``. It prints:

- the median coefficient of variation of the node frequencies (0 when a network is locked);
- the fraction of edges whose two nodes end less than 60 degrees apart in phase (1/3 for random
  phases; 0 when every pair of neighbours fires apart);
- the fraction of runs 3-coloured by first fit along the phase order (Parihar's readout; the
  experiment also tries the arcs of the phase circle, ``graphs.phase_colouring``).

Run: ``python -m experiments.parihar2017.probes.bias_probe BIAS_V COUPLING_PF [T1_NS] [SPREAD]`` (about 10 s a
design). ``SPREAD`` gives every node its own bias, drawn with that relative standard deviation, one chip
per graph shared by its restarts (the experiment's ``node_biases``; a fabrication spread of the
bias or of the threshold; fixed seed).

What it printed on 2026-11-29, 2 cores:

| bias V | coupling pF | t1 us | CV | edges < 60 degrees | 3-coloured runs |
|---:|---:|---:|---:|---:|---:|
| 6.0 | 30 | 60 | 5.1 % | 24 % | 22 % |
| 4.0 | 10 | 60 | 0.81 % | 7 % | 42 % |
| 3.8 | 10 | 60 | 0.64 % | 7 % | 50 % |
| 6.0 | 30 | 150 | 4.7 % | 26 % | 25 % |
| 4.0 | 10 | 150 | 0.20 % | 6 % | 42 % |
| 3.8 | 10 | 150 | 0.04 % | 6 % | 50 % |

With a bias spread (3.8 V, 10 pF, 150 us; one chip per graph):

| spread | CV | edges < 60 degrees | 3-coloured runs |
|---:|---:|---:|---:|
| 0 | 0.04 % | 6 % | 50 % |
| 0.2 % | 0.03 % | 6 % | 48 % |
| 0.5 % | 0.20 % | 8 % | 40 % |
| 1 % | 1.25 % | 12 % | 28 % |

At 6 V the frequencies stay apart. Just above the onset of oscillation (3.7 V) the networks
converge towards one frequency, and neighbours fire apart. A bias spread of 1 % between the nodes
(about 40 mV) unlocks them again (CV 1.25 %) and brings the 3-coloured runs from 50 % to 28 %:
the near-onset regime that colours is fragile.
"""

import dataclasses
import sys

import jax
import numpy as np

import experiments.parihar2017 as E
from experiments.parihar2017 import readout
from experiments.parihar2017.graphs import random_graphs
from physnn.phases import frequency_cvs
from physnn.tasks import graphs as G

jax.config.update("jax_enable_x64", True)


def main(bias_v, coupling_pf, t1_ns=60000.0, spread=0.0, n_graphs=20, restarts=2):
    config = dataclasses.replace(E.FULL, t1_ns=t1_ns)
    adjs = [a for _, a in random_graphs(config, "test")[:n_graphs]]
    runs = [a for a in adjs for _ in range(restarts)]
    design = dict(E.DESIGN0, bias_v=bias_v, coupling_pf=coupling_pf, equalise=0.98)
    graphs = [(str(k), a) for k, a in enumerate(adjs)]
    _, (ts, v, phases) = readout.evaluate(graphs, design, jax.random.key(0),
                                          dataclasses.replace(config, restarts=restarts),
                                          spread, spread_seed=0)
    cv = frequency_cvs(ts, v, runs)
    close, coloured = [], []
    for b, a in enumerate(runs):
        n = a.shape[0]
        p = phases[b, :n]
        if np.isnan(p).any():  # a silent oscillator: no phase, the readout fails
            coloured.append(False)
            continue
        gap = np.abs(np.angle(np.exp(1j * (p[:, None] - p[None, :]))))
        close.append(np.mean(gap[a > 0] < np.pi / 3))
        coloured.append(G.n_colours(G.phase_order_colouring(a, p)) == 3)
    print(f"bias {bias_v} V (spread {spread:.1%}), {coupling_pf} pF, t1 {t1_ns / 1e3:.0f} us: "
          "frequency CV (median) "
          f"{np.nanmedian(cv):.2%}, edges < 60 degrees {np.mean(close):.0%}, "
          f"3-coloured runs {np.mean(coloured):.0%}")


if __name__ == "__main__":
    main(*map(float, sys.argv[1:5]))
