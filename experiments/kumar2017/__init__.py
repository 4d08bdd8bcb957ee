r"""Periodic and (looked-for) chaotic regimes of a NbO2 relaxation oscillator with thermal noise.

Kumar, Strachan & Williams, Nature 548, 318 (2017) bias a NbO2 Mott memristor in a relaxation
oscillator (switch in parallel with a capacitor, fed through a series resistor) and observe "a
tunable range of periodic and chaotic self-oscillations"; the abstract attributes the chaos to
"the nonlinear current transport coupled with thermal fluctuations at the nanoscale".

Protocol. The device is ``physnn.MottNetwork("NbO2")`` (defaults: Frenkel-Poole insulating
channel + smooth IMT at 1070 K, C = 100 pF, R_s = 1 kOhm, thermal time R_th C_th = 0.3 ns), whose
state (V, T) is two-dimensional: without noise it cannot be chaotic (Poincare-Bendixson), so the
only route the model offers to the paper's "thermal fluctuations" is the exponent of the *noisy*
system, a random dynamical system. The bias V_in is swept across and beyond the oscillation
window, at several noise amplitudes:

- Thermal noise on T (additive, K/sqrt(ns)): the fluctuation-dissipation amplitude of a filament
  of heat capacity C_th coupled to the bath through R_th, sigma = sqrt(2 k_B / R_th) T_ref / C_th,
  whose Ornstein-Uhlenbeck variance is k_B T_ref^2 / C_th (std 0.13 K for the defaults at
  T_ref = 1070 K, the hottest point of the cycle) and whose correlation time is R_th C_th.
  ``noise_scales`` multiplies it (x1, x10, x100, ...); 0 is the deterministic model.
- Integration: stochastic Heun (strong order 1 for additive noise), fixed step ``dt_ns``, in
  float64, one ``lax.scan``; every bias and noise amplitude is one lane of a single ``vmap``.
- Largest Lyapunov exponent, two ways along the *same* noise realisation: (1) tangent dynamics,
  ``jax.jvp`` of the stochastic step with the noise increments held fixed (Benettin
  renormalisation every ``block_steps`` steps); (2) two nearby trajectories (distance d0 in the
  weighted norm ||(dV/1 V, dT/100 K)||, renormalised every block) driven by the same increments.
  The exponent is the accumulated log-growth over whole cycles (between upward crossings of the
  mid-level of V, after the first 10 % of the window) divided by their duration, with a standard
  error from 8 batches of whole cycles; at a quiescent bias, the least-squares slope of the
  accumulated log-growth and 8 batch means. The same code reproduces
  the Lorenz exponent (0.906) to check it.
- Bifurcation diagram: the peak voltages (maxima of V, one per cycle) against bias.
- The edges of the window, zoomed (``onset_zoom``). The coarse sweep's steps (12.5 mV) are far
  wider than the region where the oscillation is born: the full relaxation cycle appears within
  0.02 mV of biases where the fixed point is only weakly stable, and there the noise decides when
  the oscillator fires.
  Each edge of the deterministic window is located to about 0.02 mV (:func:`.scan.locate_onset`: two
  grids of deterministic runs), and the noisy oscillator is measured on a fine grid around it
  (+-0.5 mV in 0.05 mV steps, 640 us per bias: the exponents there are small, of order 1e-3 per
  ns, and need about 3000 cycles to resolve), with the two-trajectory check at the biases found
  chaotic.

A bias point counts as chaotic when its exponent exceeds ``positive_threshold_per_period`` per
oscillation period by three standard errors; a band is at least ``min_band_points`` adjacent such
points. If none appears, the experiment says so (``positive_band_found: false``).

An interrupted run (Ctrl-C, SIGTERM, a killed job) resumes when the same command is run again
with the same ``--out``: the Lorenz check, each bias sweep, the two-trajectory check and the onset
zooms are stages kept in ``DIR/checkpoints`` (``physnn.checkpoint.Stages``), removed once
``results.json`` is written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.analysis import exponents

from .figures import onset_zoom_figure, sweep_figures
from .model import check, counts, device
from .report import make_record
from .scan import bias_sweep, lorenz_exponent, onset_zoom
from .validation import check_config

NAME = "kumar2017"
DESCRIPTION = "NbO2 Mott oscillator: bifurcation diagram and Lyapunov exponent vs bias (Kumar 2017)"


def _zoom(**kw):
    return dataclasses.field(default_factory=lambda: dict(kw))


@dataclasses.dataclass(frozen=True)
class Config:
    """bias_v: (lowest V, highest V, number of biases) of the sweep; noise_scales: multiples of
    the fluctuation-dissipation thermal noise (0: deterministic); thermal_capacitance_j_per_k:
    C_th of the filament (J/K); noise_reference_k: T_ref of the noise amplitude (K); dt_ns,
    block_steps: Heun step (ns) and steps per renormalisation block; t_transient_ns,
    t_measure_ns: transient and measured window per bias (ns); check_biases_v: biases of the
    two-trajectory check (V); two_trajectory_d0: their separation (weighted norm);
    positive_threshold_per_period, min_band_points: the chaos criterion (exponent per period
    above it by three standard errors, in runs of at least this many biases); lorenz_blocks:
    blocks of the Lorenz check; seed: the noise stream; onset_zoom: the zoom on the window's
    edges (edges "low"/"high", half_width_mv, points, t_measure_ns, noise_scales,
    bracket_points, check_points); variants: other thermal capacitances (dicts with keys among
    thermal_capacitance_j_per_k, dt_ns, t_measure_ns, noise_scales)."""

    bias_v: tuple[float, float, int]
    noise_scales: tuple[float, ...]
    thermal_capacitance_j_per_k: float
    noise_reference_k: float
    dt_ns: float
    block_steps: int
    t_transient_ns: float
    t_measure_ns: float
    check_biases_v: tuple[float, ...]
    two_trajectory_d0: float
    positive_threshold_per_period: float
    min_band_points: int
    lorenz_blocks: int
    seed: int
    # the edges of the deterministic window, located to ~0.02 mV and scanned finely with long
    # measurements (the coarse sweep's steps are far wider than the canard region at the onset)
    onset_zoom: dict = _zoom(edges=["low"], half_width_mv=0.5, points=5, t_measure_ns=8000.0,
                             noise_scales=[1.0], bracket_points=26, check_points=2)
    variants: tuple[dict, ...] = ()

    def __post_init__(self):  # a bad range is refused before anything runs (physnn run --set)
        check_config(self)


QUICK = Config(bias_v=(2.95, 3.65, 15), noise_scales=(0.0, 1.0, 10.0, 100.0),
               thermal_capacitance_j_per_k=1e-15, noise_reference_k=1070.0, dt_ns=0.02,
               block_steps=50, t_transient_ns=500.0, t_measure_ns=2000.0,
               check_biases_v=(3.1, 3.5), two_trajectory_d0=1e-8,
               positive_threshold_per_period=0.02, min_band_points=2, lorenz_blocks=2000, seed=0)
FULL = dataclasses.replace(
    QUICK,
    bias_v=(2.95, 3.65, 57),
    noise_scales=(0.0, 1.0, 3.0, 10.0, 30.0, 100.0),
    t_transient_ns=1500.0,
    t_measure_ns=16000.0,
    check_biases_v=(3.06, 3.1, 3.2, 3.3, 3.4, 3.5),
    lorenz_blocks=5000,
    onset_zoom={"edges": ["low", "high"], "half_width_mv": 0.5, "points": 21,
                "t_measure_ns": 640000.0, "noise_scales": [1.0], "bracket_points": 26,
                "check_points": 3},
    # thermal time comparable with RC (90 ns vs 100 ns): the slow-thermal variant
    variants=({"thermal_capacitance_j_per_k": 3e-13, "dt_ns": 0.2, "t_measure_ns": 60000.0,
               "noise_scales": [0.0, 1.0, 10.0, 100.0, 1000.0]},),
)


def two_trajectory_check(config, main, biases):
    """Tangent and two-trajectory exponents (per ns) and the tangent's standard error at
    ``biases`` and every noise scale, on the same noise realisation; shape (scale, bias)."""
    scales = np.asarray(config.noise_scales, float)
    with jax.enable_x64(True):
        dev = device(config)
        _, bt, _, _ = counts(config)
        cv, cs = np.meshgrid(biases, scales * main["sigma1"])
        # the exponents only are kept: the raw growths are large
        la, lb, chi, clo = check(dev, jnp.asarray(cv.ravel()), jnp.asarray(cs.ravel()), config)
        lam_a, se_a = exponents(la, chi, clo, bt)
        lam_b, _ = exponents(lb, chi, clo, bt)
    return tuple(x.reshape(cv.shape) for x in (lam_a, lam_b, se_a))


def run(config: Config, out_dir) -> dict:
    """The protocol: the Lorenz check, the bias sweep (and the variants), the two-trajectory
    check, the onset zoom, the figures and the record."""
    check_config(config)
    for var in config.variants:
        check_config(dataclasses.replace(config, **var, variants=()))
    out_dir = Path(out_dir)
    # an interrupted run resumes: each sweep below is a stage kept in out_dir/checkpoints
    stages = pn.checkpoint.Stages.of_run(out_dir, config, NAME)
    lorenz = stages("lorenz", lorenz_exponent, n_blocks=config.lorenz_blocks)
    scales = np.asarray(config.noise_scales, float)
    vins = np.linspace(config.bias_v[0], config.bias_v[1], int(config.bias_v[2]))
    main = stages("sweep", bias_sweep, config, vins, scales)
    variants = [(var, stages(f"variant_{i}", bias_sweep, dataclasses.replace(config, **var), vins,
                             np.asarray(var.get("noise_scales", scales), float)))
                for i, var in enumerate(config.variants)]
    cb = np.asarray(config.check_biases_v, float)
    lam_a, lam_b, se_a = stages("check", two_trajectory_check, config, main, cb)
    zooms = stages("onset_zoom", onset_zoom, config, main, vins)

    sweep_figures(out_dir, vins, scales, main, variants, cb, lam_b * 1e3)
    onset_zoom_figure(out_dir, zooms)
    result = make_record(config, vins, scales, main, variants, zooms, (cb, lam_a, lam_b, se_a),
                         lorenz)
    result["figures"] = ["bifurcation.png", "lyapunov.png"] + (["onset_zoom.png"] if zooms else [])
    result["notes"] += stages.notes()
    result["resumed"] = stages.resumed
    return result


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints
