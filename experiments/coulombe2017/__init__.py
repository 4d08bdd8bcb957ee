"""A chain of nanomechanical Duffing resonators as a reservoir (Coulombe, York & Sylvestre 2017).

Protocol (Coulombe, York & Sylvestre, PLoS ONE 12, e0178663 (2017)), on physical NEMS parameters:

- **Device.** ``physnn.DuffingNetwork``: a chain of N resonators at 2.2 MHz, Q = 4000, 1 pg,
  k3 = 3e11 N/m^3, nearest-neighbour springs of 2e-4 N/m, natural frequencies spread by a couple
  of linewidths (fabrication disorder), thermal force at 300 K, slow-flow (rotating-frame) form.
  All resonators are driven at one frequency, 8 linewidths below the mean resonance (below the
  chain's normal-mode band), with amplitude F0; the input modulates each drive,
  F_i = F0 (1 + W_i u(t)), W_i ~ U(-0.8, 0.8). Below resonance the hardening springs pull the
  resonances away from the drive, so no resonator can jump onto a high-amplitude branch; driven
  above resonance (bistable), resonators that jump up outrun the explicit slow-flow steps
  (measured: blow-ups reported by ``simulate_checked`` at 32 pN).
- **Parity.** A random bit stream b_k, each bit held for a bit period T, is the input u. The
  readout is linear (ridge, cross-validated) on the displacements sampled synchronously with the
  drive: x_i at carrier phases 0 and 90 degrees (i.e. Re A_i and -Im A_i), 4 times per bit.
  Targets P_n(k) = b_k XOR ... XOR b_(k-n+1), n = 3, 4, 5; success probability = fraction of test
  bits where the thresholded output equals the target, the readout fitted on all training bits
  after the washout. Maps over T and F0 as in the paper's Fig 4 (test success).
- **Operating point.** Chosen without test bits: at every (T, F0) the readouts are also fitted on
  the first 3/4 of the training bits after the washout and scored on the last 1/4 (validation
  bits, as in dion2018); the point with the highest P3 validation success (the paper's target
  task; ties: the highest P4 + P5 validation success, then the first in the map) is the one
  whose test success is reported and where the controls, robustness and digits run.
- **Controls.** The same chain with k3 = 0 (a linear reservoir: parity is not linearly separable,
  so it must fail) and, at the chosen point, without thermal noise (the paper's noise-free model).
- **Robustness.** At the chosen operating point every physical parameter (f0, Q, m, k3, coupling
  springs, input gains) is multiplied by (1 + sigma xi), xi ~ N(0, 1) independent: before
  training (the readout is retrained on the perturbed device) and after training (the readout
  of the nominal device is kept), as in the paper's Figs 5 and 6.
- **Spoken digits.** FSDD (the open stand-in for TI-46, see physnn.tasks.fsdd): 13 MFCCs resampled
  to a fixed number of frames, each frame held for one frame period and fed through random input
  gains (N x 13) into the drive; readout = ridge classifier on the synchronously sampled
  displacements at the end of each frame; official split. Compared with the same ridge on the
  MFCC frames themselves.
- **Cost.** Energy per inference = power dissipated by damping (cycle average) x the time one
  inference occupies the device (one bit period for parity, the utterance for digits); latency =
  that time.
- **Resume.** An interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is
  run again with the same ``--out``: the maps, controls, robustness trials and spoken digits are
  stages kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``), removed once ``results.json`` is
  written.

Modules: ``chain`` (the device and its response to a bit stream), ``parity`` (success, choice,
maps, controls, robustness), ``digits`` (FSDD), ``figures``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

import physnn as pn
from physnn.checkpoint import config_dict

from .chain import ring_down_time_us
from .digits import spoken_digits
from .figures import figures
from .parity import ORDERS, choose_point, controls, parity_maps, robustness

NAME = "coulombe2017"
DESCRIPTION = "A chain of nanomechanical Duffing resonators: parity, robustness, spoken digits"


@dataclasses.dataclass(frozen=True)
class Config:
    """The chain: n_resonators, q, f0_mhz (MHz), natural frequencies spread by
    +-spread_linewidths linewidths, the drive detuning drive_detuning_linewidths (linewidths from
    f0), input gains W_i ~ U(-input_gain, input_gain), thermal force at temperature_k (K), seed.
    Parity maps over bit_periods_tau (ring-down times) x drive_pn (pN); n_bits bits of which
    n_washout washout and n_train training bits; samples_per_bit samples per bit; dt_max_us: the
    largest solver step (us). Robustness: relative spreads (the first 0), n_trials draws each.
    Spoken digits: every fsdd_every-th utterance, fsdd_frames frames of fsdd_frame_tau ring-down
    times, input gain fsdd_gain."""

    bit_periods_tau: tuple[float, ...]
    drive_pn: tuple[float, ...]
    n_bits: int
    n_washout: int
    n_train: int
    spreads: tuple[float, ...]
    n_trials: int
    fsdd_every: int
    fsdd_frames: int
    n_resonators: int = 10
    q: float = 4000.0
    f0_mhz: float = 2.2
    spread_linewidths: float = 2.0
    drive_detuning_linewidths: float = -8.0
    input_gain: float = 0.8
    temperature_k: float = 300.0
    samples_per_bit: int = 4
    dt_max_us: float = 2.5
    fsdd_frame_tau: float = 0.25
    fsdd_gain: float = 0.1
    seed: int = 0


QUICK = Config(bit_periods_tau=(0.25, 0.5), drive_pn=(16.0, 32.0), n_bits=500, n_washout=50,
               n_train=330, spreads=(0.0, 1e-4, 1e-3), n_trials=2, fsdd_every=5, fsdd_frames=12)
FULL = Config(bit_periods_tau=(0.125, 0.25, 0.5, 1.0), drive_pn=(4.0, 8.0, 16.0, 24.0, 32.0),
              n_bits=1200, n_washout=100, n_train=800, spreads=(0.0, 1e-5, 1e-4, 1e-3, 3e-3),
              n_trials=4, fsdd_every=1, fsdd_frames=16)


def run(config: Config, out_dir) -> dict:
    """The protocol: a bit stream, the parity maps and the operating point chosen on validation
    bits, the controls, the robustness to parameter spread, the spoken digits, the report."""
    out_dir = Path(out_dir)
    key = jax.random.key(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    bits = rng.integers(0, 2, config.n_bits)
    tau = ring_down_time_us(config)

    # an interrupted run resumes: each phase below is a stage kept in out_dir/checkpoints. The
    # set-up names how the operating point is chosen: the checkpoints of a run that chose it on
    # test bits (before this entry) hold other stages, and are refused, not reused
    stages = pn.checkpoint.Stages(out_dir / pn.checkpoint.RUN_CHECKPOINTS,
                                  {"config": config_dict(config), "operating_point": "validation"},
                                  NAME)

    def maps():  # the features of the chosen point only: the others are not needed again
        periods, drives, probs, val, energy, features = parity_maps(config, bits, key)
        i, j = choose_point(val)
        return periods, drives, probs, val, energy, features[i][j]

    periods, drives, probs, val, energy, nominal = stages("parity_maps", maps)
    i, j = choose_point(val)
    point_t, point_f = float(periods[i]), float(drives[j])
    ctrl = stages("controls", controls, config, bits, point_t, point_f, jax.random.fold_in(key, 77))
    spreads, pre, post, unstable = stages("robustness", robustness, config, bits, point_t, point_f,
                                          nominal, jax.random.fold_in(key, 78))
    digits = stages("spoken_digits", spoken_digits, config, point_f, jax.random.fold_in(key, 79))

    figures(out_dir, periods / tau, drives, probs, (i, j), spreads, pre, post)
    n_test = config.n_bits - config.n_train
    n_val = config.n_train - config.n_washout - (3 * (config.n_train - config.n_washout)) // 4
    metrics = {
        "p3_success": float(probs[0, i, j]),
        "p4_success": float(probs[1, i, j]),
        "p5_success": float(probs[2, i, j]),
        "p3_validation_success": float(val[0, i, j]),
        "p3_success_linear_chain": float(ctrl["linear_k3_0"][0]),
        "p3_success_noise_free": float(ctrl["noise_free"][0]),
        "p5_success_noise_free": float(ctrl["noise_free"][2]),
        "chosen_bit_period_us": point_t,
        "chosen_drive_pn": point_f,
        "energy_per_bit_j": float(energy[i, j]),
        "latency_per_bit_us": point_t,
        "p3_success_post_training_sigma_1e-4": at_spread(spreads, post, 1e-4, 0),
        "p3_success_pre_training_sigma_1e-3": at_spread(spreads, pre, 1e-3, 0),
        "p3_success_post_training_sigma_1e-3": at_spread(spreads, post, 1e-3, 0),
        "fsdd_accuracy": digits["accuracy"],
        "fsdd_accuracy_mfcc_only": digits["accuracy_mfcc_only"],
        "energy_per_word_j": digits["energy_j"],
        "latency_per_word_us": digits["latency_us"],
    }
    reference = {
        "p3_success": ">= 0.99 (target; paper Fig 4: P3 near 1 over a wide region)",
        "p3_success_linear_chain": "~0.5 (a linear reservoir cannot compute parity)",
        "fsdd_accuracy": "paper: TI-46 digits, Fig 3 (not comparable: FSDD stand-in)",
    }
    notes = [
        f"ring-down time tau = 2Q/w0 = {tau:.0f} us; bit periods {list(config.bit_periods_tau)}"
        " tau; success estimated on " f"{n_test} test bits (95 % half-width about "
        f"{1.96 * np.sqrt(0.25 / n_test):.3f} at p = 0.5, less near p = 1)",
        f"operating point chosen without test bits: the highest P3 success on {n_val} validation "
        "bits (the last quarter of the training bits after the washout; readouts fitted on the rest), "
        "ties by P4 + P5; the reported successes are the test successes there, readouts refitted on "
        "all training bits; the maps show test success (the cross marks the chosen point)",
        "features: displacement sampled synchronously with the drive (carrier phases 0 and 90 "
        "degrees) = Re A, -Im A of the slow flow; sampling at phases unrelated to the drive gives "
        "chance-level parity (measured while building this experiment)",
        "thermal force at 300 K is on by default: weak-drive operating points that solve parity "
        "without noise fail with it (measured while building this experiment); strong drives "
        "(tens of pN, nonlinear shifts of several linewidths) recover P3",
        "the drive sits 8 linewidths below resonance; robustness trials whose perturbed device "
        "blew up numerically are recorded as NaN (count in robustness.unstable_trials)",
        "robustness: sigma multiplies every physical parameter; at Q = 4000 a relative f0 error "
        "of 1/Q is a whole linewidth, so the post-training tolerance is of order 1e-4",
        "FSDD is the open stand-in for TI-46 (see physnn.tasks.fsdd); only the official split",
    ]
    notes += stages.notes()
    return {
        "metrics": metrics, "reference": reference, "notes": notes, "resumed": stages.resumed,
        "maps": {"bit_period_tau": list(map(float, periods / tau)), "drive_pn": drives.tolist(),
                 "success": {f"P{n}": probs[k].tolist() for k, n in enumerate(ORDERS)},
                 "validation_success": {f"P{n}": val[k].tolist() for k, n in enumerate(ORDERS)},
                 "chosen": [int(i), int(j)],
                 "energy_per_bit_j": energy.tolist()},
        "robustness": {"spreads": spreads.tolist(), "pre_mean": pre.mean(1).tolist(),
                       "post_mean": post.mean(1).tolist(), "unstable_trials": unstable},
        "controls": {k: v.tolist() for k, v in ctrl.items()},
        "digits": digits,
        "figures": ["parity_maps.png", "robustness.png"],
    }



def at_spread(spreads, values, s, order):
    """The mean over trials of ``values`` (spreads, trials, orders) at spread ``s`` and order
    index ``order`` (NaN if ``s`` is not among the spreads)."""
    k = np.flatnonzero(np.isclose(spreads, s))
    return float(values[k[0], :, order].mean()) if len(k) else float("nan")


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
