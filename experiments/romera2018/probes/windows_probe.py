"""Does readout (b) do better reading the oscillators over both halves of the presentation?

Readout (b) of ``romera2018`` averages its 16 observables over the second half of the 500 ns
presentation. ``romera2018-glide`` reads the same observables over each half (32 features), and
there the network with *steady* tones scored 89.1 % on the test speakers where the committed (b)
scores 85.7 % on this host: a figure seen on the test speakers, so it chooses nothing. This probe
makes the choice on training speakers only.

Protocol (fixed before the run). The committed folds; in each outer fold every fifth of the
training speakers is held out in turn (``romera_protocol.select`` with ``--inner`` 0-4, so that
every training speaker is scored once: 1036 tokens, free of inner fold 0's known ease), and
readout (b) is trained, exactly as in the experiment, on the other four fifths with

- ``second_half``: the committed readout;
- ``both_halves``: ``feature_windows = [[0, 0.5], [0.5, 1]]``, nothing else changed.

Rule: the experiment adopts ``both_halves`` only if it scores at least 20 more of the 1036
held-out tokens (about 2 points; the earlier probes' margin of 4 tokens of 210, scaled).

What it printed on 2026-12-01, before the fix of (b)'s training solver (its compiled step solved
the 0 K network as an SDE; 2 cores, AMD EPYC; 10 min, sharing the cores with other runs for
the first minutes), held-out tokens of ``second_half`` / ``both_halves``: inner fold 0: 193 /
185 of 210; 1: 176 / 182; 2: 186 / 188; 3: 175 / 173 of 210; 4: 170 / 172 of 196; all: **900 /
900 of 1036** (86.9 % each). A tie: the experiment keeps the committed readout. The 3.4 points
between the two on the test speakers were most likely the luck of one training run ((b)'s figure
moves by 1.2-1.6 points (standard deviation) over training seeds).

Run: ``python -m experiments.romera2018.probes.windows_probe select`` (50 trainings of (b), about 10 min on 2
cores); ``python -m experiments.romera2018.probes.windows_probe both_halves`` (or ``second_half``) runs a
variant on the outer folds.
"""

import sys

from experiments.romera2018 import model as M
from experiments.romera2018.probes import protocol as P

WINDOWS = {"second_half": M.SECOND_HALF, "both_halves": ((0.0, 0.5), (0.5, 1.0))}


def main(argv):
    P.readout_b_probe_main(argv, "windows_probe.py", "feature_windows", WINDOWS)


if __name__ == "__main__":
    main(sys.argv[1:])
