"""Does readout (b) do better when it also reads the lock-in phase of the oscillators?

Readout (b) of ``romera2018`` reads, for every oscillator, its power, its frequency and how
coherent it is with each tone (``|Z|``, the magnitude of the lock-in phasor
``Z = <exp(i(phi_j - theta_a))>``). A locked oscillator runs at the tone's frequency, so its
frequency and ``|Z|`` (about 1) say nothing about where in the locking band the tone sits; the
phase lag ``arg Z`` does (Adler: ``sin`` of the lag is the detuning over the half-width;
``tests/test_sto.py::test_locking_phasor_lag_follows_adler_across_the_band``). With
``lock_phase=True`` the readout also gets ``Re Z`` and ``Im Z`` (32 observables instead of 16),
which a lock-in amplifier or IQ mixer referenced to each input tone measures.

Protocol (fixed before the run; that of ``windows_probe.py``). The committed folds; in
each outer fold every fifth of the training speakers is held out in turn
(``romera_protocol.select`` with ``--inner`` 0-4: 1036 tokens, every training speaker scored
once), and readout (b) is trained exactly as in the experiment on the other four fifths with

- ``magnitude``: the committed readout;
- ``lock_phase``: the same, plus ``Re Z`` and ``Im Z``; nothing else changed.

Rule: the experiment adopts ``lock_phase`` only if it scores at least 20 more of the 1036
held-out tokens (about 2 points). No test speaker is used.

What it printed on 2026-12-01, before the fix of (b)'s training solver (its compiled step solved
the 0 K network as an SDE; 2 cores, AMD EPYC; 13 min), held-out tokens of ``magnitude`` /
``lock_phase``: inner fold 0: 193 / 191 of 210; 1: 176 / 178; 2: 186 / 178; 3: 175 / 182 of
210; 4: 170 / 165 of 196; all: **900 / 894 of 1036** (86.9 / 86.3 %). ``magnitude`` reproduces
``windows_probe.py``'s ``second_half`` token for token. The phase costs 6 tokens: the
experiment keeps the committed readout. After that decision, for the record, ``lock_phase`` on
the outer folds (62 s) scores 86.1 % on the test speakers (train 90.8 %; folds 80.4, 92.9, 87.8,
89.8, 79.6 %) against 85.7 % for the committed readout on this host: the same, within a token
a fold.

Run: ``python -m experiments.romera2018.probes.phase_probe select`` (50 trainings of (b), about 13 min on 2
cores); ``python -m experiments.romera2018.probes.phase_probe lock_phase`` (or ``magnitude``)
runs a variant on the outer folds.
"""

import sys

from experiments.romera2018.probes import protocol as P

VARIANTS = {"magnitude": False, "lock_phase": True}


def main(argv):
    P.readout_b_probe_main(argv, "phase_probe.py", "lock_phase", VARIANTS)


if __name__ == "__main__":
    main(sys.argv[1:])
