"""Do hysteretic VO2 cells lock on the parihar2017 colouring graphs? An exploratory probe.

``experiments/parihar2017`` uses the anhysteretic VO2 model. Parihar's analysis of the
phase order rests on the IMT hysteresis, which ``MottNetwork(..., hysteretic=True)`` provides. This
script swaps hysteretic cells into the same graph network:

- cells: 300 K ambient, R_on = 100 Ohm, 16 V bias; a full relaxation oscillation, see
  ``physnn.devices.mott``;
- design: ``coupling_pf`` per edge, full trim (``equalise`` 0.98);
- initial state: random node voltages of 0-10 V;
- integration: Tsit5 with dt = 2 ns (the switching time is 1 ns).

It colours the first 12 held-out planted 3-colourable graphs of the FULL config, 2 restarts each,
with the experiment's readout. It prints the median coefficient of variation of the node
frequencies (0 when a network is locked) and the 3-coloured fraction.

Run: ``python -m experiments.parihar2017.probes.hysteretic_probe [coupling_pf] [t1_ns]`` (20-70 s).

What it printed on 2026-11-29, 2 cores. The "first fit" columns are the first runs, when the
experiment read colours by Parihar's first fit alone. The "readout" columns are re-runs with the
experiment's current readout (``graphs.phase_colouring``: first fit or arcs of the phase circle,
whichever uses fewer colours); the frequencies are the same.

| coupling pF | t1 µs | CV | first fit, best of 2 | per restart | readout, best of 2 | per restart |
|---:|---:|---:|---:|---:|---:|---:|
| 30 | 60 | 26 % | 33 % | 17 % | - | - |
| 10 | 60 | 17 % | 42 % | 25 % | 42 % | 25 % |
| 3 | 60 | 0.6 % | 33 % | 25 % | 42 % | 29 % |
| 3 | 150 | 0.45 % | 50 % | 38 % | 50 % | 42 % |
| 1 | 150 | 0.23 % | 67 % | 38 % | 75 % | 46 % |
| 1 | 300 | 0.20 % | 42 % | 25 % | 50 % | 38 % |
| 0.5 | 300 | 0.12 % | 42 % | 25 % | 58 % | 33 % |

The 30 pF row used half trim (``equalise`` 0.5), which the command line does not set; it was not
re-run. No run locks. The fraction moves with the run length, because the final order is a
snapshot of a drifting state.
"""

import dataclasses
import functools
import sys

import jax
import numpy as np

import experiments.parihar2017 as E
from experiments.parihar2017 import network, readout
from experiments.parihar2017.graphs import random_graphs
from physnn.phases import frequency_cvs

jax.config.update("jax_enable_x64", True)
CELLS = dict(hysteretic=True, ambient_k=300.0, on_resistance_ohm=100.0)


def main():
    coupling = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    t1 = float(sys.argv[2]) if len(sys.argv) > 2 else 150000.0
    network.build_network = functools.partial(network.build_network, **CELLS)
    network.T0_K, network.V0_RANGE = 300.0, (0.0, 10.0)
    cfg = dataclasses.replace(E.FULL, n_test=12, t1_ns=t1, dt_ns=2.0, restarts=2)
    design = {**E.DESIGN0, "bias_v": 16.0, "coupling_pf": coupling, "equalise": 0.98}
    graphs = random_graphs(cfg, "test")
    cols, (ts, v, _) = readout.evaluate(graphs, design, jax.random.key(0), cfg)
    cv = float(np.nanmedian(frequency_cvs(ts, v, [a for _, a in graphs for _ in range(2)])))
    print(f"coupling {coupling} pF, t1 {t1 / 1e3:g} us: frequency CV {cv:.4f}, "
          f"3-coloured best of 2 {np.mean(np.nanmin(cols, 1) == 3):.2f}, "
          f"per restart {np.mean(cols == 3):.2f}")


if __name__ == "__main__":
    main()
