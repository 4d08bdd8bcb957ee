"""Does readout (a) of romera2018 do better with weaker or stronger tones?

The tones' amplitude, 2 mA (``FULL["rf_amp_ma"]``), was chosen by training recognition with the
old 0.25-cycle locking criterion (``docs/experiments/romera2018-notes.md``). With the 1-cycle criterion each
oscillator locks over a half-width of 0.12-0.14 of the band at 2 mA (``window_bound.py
widths``); the locking range grows with the amplitude, and so does the oscillators' pull on each
other's windows. This probe compares, for readout (a) only:

- ``a2``: the experiment as committed (2 mA, with the rule's speaker copies);
- ``a1.5``: 1.5 mA;
- ``a2.5``: 2.5 mA;
- ``a3``: 3 mA.

``select`` decides on the training speakers alone (``romera_protocol.select``: in each of the 5
folds one fifth of the training speakers is held out). The rule, fixed before the run: readout
(a) adopts the variant with the most held-out tokens only if it scores at least 4 more than
``a2`` (as in ``rule_probe.py``); ties between other variants go to the one nearer 2 mA.
Otherwise the experiment keeps ``a2``. ``a2`` is deterministic and has scored 182 of 210 in four
``select`` runs on this host (``rule_probe.py``, ``window_init_probe.py``,
``coupling_probe.py``), so ``select`` runs only the other variants and compares with that
figure; ``select all`` runs ``a2`` as well.

``a2`` | ``a1.5`` | ``a2.5`` | ``a3`` alone: train and test recognition on the 5 outer folds
(run only after ``select`` has decided).

Run: ``python -m experiments.romera2018.probes.amplitude_probe select`` (about 11 minutes on 2 cores).

What it showed on 2026-11-30, 2 cores (662 s): of 210 tokens of held-out training speakers,
``a1.5`` 178 (per outer fold 38, 35, 36, 37, 32), ``a2.5`` 183 (36, 39, 36, 37, 35) and ``a3`` 176
(34, 35, 38, 38, 31), against 182 for ``a2`` (38, 35, 38, 35, 36). The best beats ``a2`` by one
token, not four, so the experiment keeps 2 mA; the test speakers were not run. The tones'
amplitude is not what holds readout (a) back.
"""

import dataclasses
import sys

from experiments.romera2018 import data as vdata
from experiments.romera2018 import model as M
from experiments.romera2018 import rule
from experiments.romera2018.probes import protocol as P

VARIANTS = {"a2": 2.0, "a1.5": 1.5, "a2.5": 2.5, "a3": 3.0}


def train_a(x, y, spk, idx, cfg, n_pad, kind):
    cfg = dataclasses.replace(cfg, rf_amp_ma=VARIANTS[kind])
    m0 = M.initial_model(x[idx], cfg, "pattern")
    s = vdata.formant_scale_spread(x[idx], y[idx], spk[idx])
    return rule.train_pattern_rule(m0, x[idx], y[idx], cfg, n_pad=n_pad, vtl_sigma=s)[0]


def main(argv):
    cfg, x, y, spk, folds, n_pad = P.setup()
    P.variant_main(argv, "amplitude_probe.py", tuple(VARIANTS),
                   lambda idx, k: train_a(x, y, spk, idx, cfg, n_pad, k), cfg, (x, y, spk, folds),
                   known_reference=True)


if __name__ == "__main__":
    main(sys.argv[1:])
