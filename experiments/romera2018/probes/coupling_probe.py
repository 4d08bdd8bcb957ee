"""Does readout (a) of romera2018 do better with weaker or stronger electrical coupling?

The experiment's coupling between the four oscillators, ``W = 0.001 /ns`` off the diagonal
(``FULL["coupling"]``), was set early, with the old locking criterion, and readout (b) trains it
from there. Readout (a) keeps it fixed: only its DC currents are tuned. Without coupling (a) scores
83.5 % on the test speakers against 80.1 % with it (the experiment's ablation), whereas the paper
finds coupling essential. The tones reach each oscillator with a strength ``F * amp = 0.0005 x 2
= 0.001 /ns``, the same order as ``W``. This probe compares coupled devices only (the issue's
device is four *coupled* oscillators):

- ``c1e-3``: the experiment as committed (``W = 0.001``, with the rule's speaker copies);
- ``c5e-4``: ``W = 0.0005``, half as strong;
- ``c2e-3``: ``W = 0.002``;
- ``c4e-3``: ``W = 0.004``, strong enough for oscillators to pull each other into clusters.

``select`` decides on the training speakers alone (``romera_protocol.select``: in each of the 5
folds one fifth of the training speakers is held out). The rule, fixed before the run: readout
(a) adopts the variant with the most held-out tokens only if it scores at least 4 more than
``c1e-3`` (as in ``rule_probe.py``); ties between other variants go to the one nearer
``W = 0.001``. Otherwise the experiment keeps ``c1e-3``.

``c1e-3`` | ``c5e-4`` | ``c2e-3`` | ``c4e-3`` alone: train and test recognition on the 5 outer
folds (run only after ``select`` has decided).

Run: ``python -m experiments.romera2018.probes.coupling_probe select`` (about 15 minutes on 2 cores).

What it showed on 2026-11-30, 2 cores (900 s): of 210 tokens of held-out training speakers,
``c1e-3`` 182 (86.7 %; per outer fold 38, 35, 38, 35, 36, exactly as in
``rule_probe.py select``), ``c5e-4`` 182 (36, 39, 37, 37, 33), ``c2e-3`` 172 (38, 32, 33,
36, 33) and ``c4e-3`` 169 (33, 35, 33, 37, 31). By the rule the experiment keeps ``c1e-3``; the
test speakers were not run. Stronger coupling costs held-out tokens, and halving it changes
nothing: in this simulation the coupling does not help readout (a) at any strength we tried,
in line with the experiment's ablation and unlike the paper.
"""

import sys

from experiments.romera2018 import data as vdata
from experiments.romera2018 import model as M
from experiments.romera2018 import rule
from experiments.romera2018.probes import protocol as P

VARIANTS = {"c1e-3": 0.001, "c5e-4": 0.0005, "c2e-3": 0.002, "c4e-3": 0.004}


def train_a(x, y, spk, idx, cfg, n_pad, kind):
    m0 = M.initial_model(x[idx], cfg, "pattern", coupling=VARIANTS[kind])
    s = vdata.formant_scale_spread(x[idx], y[idx], spk[idx])
    return rule.train_pattern_rule(m0, x[idx], y[idx], cfg, n_pad=n_pad, vtl_sigma=s)[0]


def main(argv):
    cfg, x, y, spk, folds, n_pad = P.setup()
    P.variant_main(argv, "coupling_probe.py", tuple(VARIANTS),
                   lambda idx, k: train_a(x, y, spk, idx, cfg, n_pad, k), cfg, (x, y, spk, folds))


if __name__ == "__main__":
    main(sys.argv[1:])
