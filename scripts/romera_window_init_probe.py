"""Does readout (a)'s current rule of romera2018 do better when it starts from ideal windows of
the device's own width?

``python scripts/romera_window_bound.py widths`` measures the device's locking windows for one
tone, as the experiment counts locking (1 cycle of slip in 250 ns): half-widths 0.12-0.14 of the
band at 2 mA (coupled), i.e. about 5 MHz. Ideal windows fitted with the half-width held there and
the fixed min-max map classify the training speakers about as well as free-width ones do. The
rule, however, starts from the oscillators evenly spread over the band and 15 random layouts,
and climbs from the best of them. This probe compares:

- ``vtl``: the experiment's rule as committed (with its speaker copies, ``rule_augment``);
- ``winit``: the same rule with one of the 15 random starting layouts replaced by the centres of
  ideal windows of half-width 0.135 fitted to the training tokens (``window_layout``). The
  rule still keeps whichever layout measures best on the device.

``select`` decides on the training speakers alone (``romera_protocol.select``: in each of the 5
folds one fifth of the training speakers is held out). The rule, fixed before the run: the
experiment adopts ``winit`` only if it scores at least 4 more held-out tokens than ``vtl`` (as in
``romera_rule_probe.py``); otherwise it keeps ``vtl``.

``vtl`` | ``winit`` alone: train and test recognition on the 5 outer folds (run only after
``select`` has decided).

Run: ``python scripts/romera_window_init_probe.py select`` (about 7 minutes on 2 cores).

What it showed on 2026-11-30, 2 cores: of 210 tokens of held-out training speakers, ``vtl`` 182
(86.7 %; per outer fold 38, 35, 38, 35, 36, exactly as in ``romera_rule_probe.py select``) and
``winit`` 179 (85.2 %; 36, 35, 37, 35, 36). By the rule the experiment keeps ``vtl``; the test
speakers were not run. The fitted centres crowd the middle of the band (about 0.27, 0.33, 0.51
and 0.69 of it, closer than the windows are wide), where coupled oscillators pull each other, so
the device does not realise the overlapping windows the fit assumes.
"""

import sys

import romera_protocol as P
from romera_protocol import R

VARIANTS = ("vtl", "winit", "winit_sep")


def train_a(x, y, spk, idx, cfg, n_pad, kind):
    m0 = R.initial_model(x[idx], cfg, "pattern")
    s = R.formant_scale_spread(x[idx], y[idx], spk[idx])
    if kind == "winit_sep":
        cfg = dict(cfg, rule_window_min_separation=0.2)
    init = R.window_layout(x[idx], y[idx], cfg) if kind.startswith("winit") else None
    return R.train_pattern_rule(m0, x[idx], y[idx], cfg, n_pad=n_pad, vtl_sigma=s, init_layouts=init)[0]


def main(argv):
    cfg, x, y, spk, folds, n_pad = P.setup()
    cfg = dict(cfg, rule_window_halfwidth=0.135)
    P.variant_main(argv, "romera_window_init_probe.py", VARIANTS,
                   lambda idx, k: train_a(x, y, spk, idx, cfg, n_pad, k), cfg, (x, y, spk, folds),
                   known_reference=True)


if __name__ == "__main__":
    main(sys.argv[1:])
