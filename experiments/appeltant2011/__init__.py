"""Appeltant et al., Nat. Commun. 2, 468 (2011): a single Mackey-Glass node with delayed feedback
as a 400-node reservoir, on NARMA10 and Santa Fe one-step prediction, then co-design by gradient.

Protocol (the paper's numerics where the paper states them):

- Node: ``physnn.MackeyGlassNode`` with p = 1, N = 400 virtual nodes, theta = 0.2 (units of the
  node response time), tau = N theta (synchronised) or (N + 1) theta (desynchronised, ``desync``).
- Input: time multiplexing by a random binary mask of +-0.1 (``physnn.Masked``); each input sample
  is held for one delay period. Node states are read at the end of each theta interval.
- States: the exact-in-theta map (``physnn.delay_map``) for the scans, and the continuous delay
  integrator (``physnn.simulate``, RK4 with a history buffer) at the chosen operating point, to show
  the effect of the continuous-time coupling between virtual nodes.
- Pole: with p = 1 the node is singular at X(t - tau) + gamma J = -1; past it its states are NaN
  (``physnn.MackeyGlassNode``), and a scan point whose node crosses it is marked diverged (NaN on
  the maps) and never chosen.
- Readout: ridge regression in float64 (``physnn.readout.ridge_fit``, alpha by 5-fold CV) on the
  400 node states. (eta, gamma) are chosen on a validation block at the end of the training data,
  never on the test data; the readout is then refitted on all training data.
- NARMA10: 5000 training and 2000 test steps after 200 washout steps, u ~ U[0, 0.5], seed 0.
- Santa Fe laser A: one-step prediction, 3800 training and 1000 test points (normalised to [0, 1]).
- Co-design: the mask (real-valued), eta, gamma and theta are trained with Adam through the map,
  the loss being the validation NRMSE of a ridge readout solved in closed form inside the loss
  (``physnn.readout.ridge_solve``, float64). Then tau is trained too, through the continuous
  integrator (fractional delays, ``max_delay``), on a shorter stretch of the training data.

Runs in float64 (inside ``jax.enable_x64(True)``, so importing this module changes nothing for
the caller): the readout of highly correlated virtual nodes needs it.

Modules: ``reservoir`` (node, mask, states, readout), ``scans`` (NARMA10 and Santa Fe),
``codesign``, ``figures``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax

import physnn as pn
from physnn.checkpoint import config_dict

from .codesign import train_codesign
from .figures import figures
from .scans import narma_scan, santafe

NAME = "appeltant2011"
DESCRIPTION = "Mackey-Glass delay reservoir: NARMA10, Santa Fe, co-design by gradient"


@dataclasses.dataclass(frozen=True)
class Config:
    """The node: n_nodes virtual nodes, theta (response times), exponent p, mask amplitude
    mask_amp, seed, desync (tau = (N + desync) theta). NARMA10: narma_washout, narma_train (of
    which the last narma_val validate), narma_test steps; dt_max: the largest RK4 step of the
    continuous integrator (response times); scan A over etas x gammas at theta, scan B over
    thetas x etas_theta x gammas_theta. Santa Fe: santafe_train, santafe_test points, the grid
    santafe_etas x santafe_gammas. Co-design: codesign_steps Adam steps at codesign_lr through the
    map (validation every codesign_every), then tau_steps at tau_lr for the delay through the
    integrator on tau_train-sample series (validation every tau_every)."""

    narma_train: int
    narma_test: int
    narma_val: int
    dt_max: float
    etas: tuple[float, ...]
    gammas: tuple[float, ...]
    thetas: tuple[float, ...]
    etas_theta: tuple[float, ...]
    gammas_theta: tuple[float, ...]
    santafe_train: int
    santafe_test: int
    santafe_etas: tuple[float, ...]
    santafe_gammas: tuple[float, ...]
    codesign_steps: int
    tau_steps: int
    tau_train: int
    codesign_every: int
    tau_every: int
    n_nodes: int = 400
    theta: float = 0.2
    p: float = 1.0
    mask_amp: float = 0.1
    seed: int = 0
    desync: int = 1
    narma_washout: int = 200
    codesign_lr: float = 0.003
    tau_lr: float = 0.1


QUICK = Config(
    narma_train=1000, narma_test=500, narma_val=300, dt_max=1.0, etas=(0.4, 0.8), gammas=(0.1, 0.5),
    thetas=(3.0,), etas_theta=(0.6, 0.8), gammas_theta=(0.1, 0.3), santafe_train=1500,
    santafe_test=500, santafe_etas=(0.4, 0.8), santafe_gammas=(0.5, 2.0), codesign_steps=10,
    tau_steps=2, tau_train=100, codesign_every=5, tau_every=2)
FULL = Config(
    narma_train=5000, narma_test=2000, narma_val=1000, dt_max=0.5,
    etas=(0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.2, 1.5), gammas=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
    thetas=(0.5, 1.0, 2.0, 3.0, 5.0, 8.0), etas_theta=(0.5, 0.6, 0.7, 0.8, 0.9),
    gammas_theta=(0.05, 0.1, 0.2, 0.3, 0.5), santafe_train=3800, santafe_test=1000,
    santafe_etas=(0.2, 0.4, 0.6, 0.8, 1.0, 1.3), santafe_gammas=(0.1, 0.3, 1.0, 3.0, 10.0),
    codesign_steps=300, tau_steps=20, tau_train=1000, codesign_every=25, tau_every=5)

REFERENCE = {
    "narma10_nrmse_best_scan": 0.12,
    "narma10_nrmse_linear_baseline": 0.4,
    "narma10_nrmse_esn_400": 0.099,
    "narma10_nrmse_codesign": "<= 0.08 (issue target)",
    "santafe_nmse_best_scan": 0.019,
}


def run(config: Config, out_dir) -> dict:
    """The protocol (in float64): the NARMA10 scans, Santa Fe, the co-design, the report."""
    with jax.enable_x64(True):
        return protocol(config, out_dir)


def protocol(config: Config, out_dir) -> dict:
    """:func:`run`'s body, under ``jax.enable_x64``."""
    out_dir = Path(out_dir)
    t = {}
    # an interrupted run resumes: the two scans are stages, the co-design checkpoints its steps
    stages = pn.checkpoint.Stages(out_dir / pn.checkpoint.RUN_CHECKPOINTS / "stages",
                                  {"config": config_dict(config)}, NAME)
    t0 = time.perf_counter()
    scan = stages("narma_scan", narma_scan, config)
    t["narma_scan_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sf = stages("santafe", santafe, config)
    t["santafe_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cd = train_codesign(config, scan["best"], out_dir)
    t["codesign_s"] = time.perf_counter() - t0
    figures(out_dir, config, scan, sf, cd)

    bp, bb = scan["best_paper_theta"], scan["best"]
    metrics = {
        "narma10_nrmse_paper_theta": scan["test_map_paper"],
        "narma10_nrmse_paper_theta_continuous": scan["test_continuous_paper"],
        "narma10_nrmse_best_scan": scan["test_map_best"],
        "narma10_nrmse_best_scan_continuous": scan["test_continuous_best"],
        "narma10_nrmse_linear_baseline": scan["linear"],
        "narma10_nrmse_codesign": cd["test_map"],
        "narma10_nrmse_codesign_with_tau": cd["test_continuous"],
        "santafe_nmse_best_scan": sf["test_nmse"],
        "best_theta": bb["theta"],
    }
    reference = dict(REFERENCE)
    reference["narma10_nrmse_paper_theta"] = 0.12
    reference["best_theta"] = "0.2 (paper)"
    notes = [
        f"NARMA10 at the paper's theta = 0.2: best (eta, gamma) = ({bp['eta']}, {bp['gamma']}) on "
        "validation; the exact-in-theta map and the continuous integrator do not reach the "
        "paper's 0.12 there",
        f"with theta (node spacing in units of the node response time) as a third scan axis, the "
        f"best validation point is theta = {bb['theta']}, eta = {bb['eta']}, gamma = {bb['gamma']}: "
        "a faster node than the paper's (less inertial coupling between virtual nodes)",
        f"'_continuous': the same parameters through the continuous delay integrator (RK4, step <= "
        f"{config.dt_max} response times), where the delayed feedback varies inside each theta "
        "interval; the map holds it (a sample-and-hold feedback)",
        "linear baseline here: ridge on the last 20 inputs (the paper's 0.4 is a linear reservoir)",
        f"co-design from the best scan point with physnn.train.fit (checkpointed), every step on "
        f"a fresh NARMA10 series (readout fitted on its first part, loss on the rest; never the "
        f"evaluation series): mask, eta, gamma, theta through the map ({config.codesign_steps} "
        f"Adam steps; of the states every {config.codesign_every} steps the one best on the "
        f"validation split is kept: step {cd['best_step_map']}) -> 'codesign' (validation NRMSE "
        f"{cd['val_start']:.4f} -> {cd['val_map']:.4f}); then mask, eta, gamma and tau through "
        f"the continuous integrator "
        f"({config.tau_steps} steps on {config.tau_train}-sample series, best on validation "
        f"of every {config.tau_every}: step {cd['best_step_tau']}) -> "
        f"'codesign_with_tau' (continuous solve): "
        f"eta={cd['eta']:.3f}, gamma={cd['gamma']:.3f}, theta={cd['theta']:.3f}, "
        f"tau/theta={cd['tau_over_theta']:.3f}",
        f"Santa Fe at theta = 0.2, desynchronised: eta={sf['eta']}, gamma={sf['gamma']}, continuous "
        "integrator",
    ]
    if cd["skipped_map"]:
        notes.append(f"co-design: on {cd['skipped_map']} of the fresh series the node crossed its pole "
                     "(NaN states); those steps were skipped (zero gradient, loss recorded as 1)")
    for phase, stop in (("map", cd["stopped_map"]), ("tau", cd["stopped_tau"])):
        if stop is not None:
            notes.append(f"co-design ({phase} phase): the node diverged after step "
                         f"{stop['after_step']}; training stopped there, the best state until then "
                         f"kept ({stop['error']})")
    notes += stages.notes()
    return {"metrics": metrics, "reference": reference, "notes": notes, "timings_s": t,
            "resumed": stages.resumed,
            "narma_grid_paper_theta": scan["grid_paper_theta"].tolist(),
            "narma_grids_theta": {str(k): g.tolist() for k, g in scan["grids_theta"].items()},
            "best_paper_theta": bp, "best": bb,
            "codesign": {k: v for k, v in cd.items()},
            "figures": ["narma10_map.png", "predictions.png", "codesign.png"]}
