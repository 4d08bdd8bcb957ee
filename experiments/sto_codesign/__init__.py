r"""Co-design of a spin-torque oscillator across fabrication spread: frequency precision against
DC power, trained through the physics and checked against the closed-form optimum.

Protocol. One vortex-like STO (``physnn.STONetwork`` defaults, T = 0 K) must run at
f* = 308 MHz on every chip, although each fabricated chip's DC current scatters by a relative 5 %
(lognormal, ``codesign.fabricate``), and should dissipate little DC power. The design variables
are the nominal current I, in [6.5, 15] mA (above the 5 mA threshold), and the tunability N/2pi,
in [5, 200] MHz (set by the free layer), held inside these bounds by ``codesign.constrain``. The
figure of merit, for a weight lambda of the power,

$$J = \langle (f_c - f^*)^2 \rangle / \mathrm{MHz}^2 + \lambda \langle P_c \rangle / \mathrm{mW},$$

averages over chips c; f_c is the frequency each chip reaches in a solve that relaxes from
p = 0.16 for 1500 ns, and P_c = I_c^2 R its DC power (``codesign.energy`` over the last 100 ns).
For every lambda the design is trained twice with Adam through ``fabricate`` and the solve
(``physnn.train.train_loop``, resumable): *across chips*, on fresh chips every step, and on the
*nominal* device alone. Both are then judged on chips neither has seen.

Reference. The steady frequency has a closed form, f = f0 + N (zeta - 1)/(zeta + Q) with
zeta = I/I_th (Slavin & Tiberkevich, IEEE Trans. Magn. 45, 1875 (2009)), so the expectation of J
over the lognormal spread is a one-dimensional integral (Gauss-Hermite quadrature, 40 nodes). It
is quadratic in N, whose best value for each current is exact; its minimum over currents on a
grid of 1 uA is the optimum the training across chips must find. On the nominal device alone
precision costs nothing, so that training drives the current toward its lower bound: the design
that is best for one chip is not the best for many.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from tqdm.auto import tqdm

import physnn as pn
from physnn import codesign
from physnn.experiment import save_figure

NAME = "sto-codesign"
DESCRIPTION = "Co-design of an STO across fabrication spread: precision vs DC power"


@dataclasses.dataclass(frozen=True)
class Config:
    """weights: the weights lambda of the DC power (per mW), one co-design each; steps: Adam steps
    per training; chips: fresh chips per step; eval_chips: held-out chips that judge a design;
    spread: relative lognormal spread of the DC current; target_ghz: the frequency every chip
    must reach; t1_ns, dt_ns: duration and step of a solve; lr: peak learning rate; seed: the
    key of the chips."""

    weights: tuple[float, ...]
    steps: int
    chips: int = 64
    eval_chips: int = 1024
    spread: float = 0.05
    target_ghz: float = 0.308
    t1_ns: float = 1500.0
    dt_ns: float = 1.0
    lr: float = 0.1
    seed: int = 0


QUICK = Config(weights=(0.1, 0.3, 1.0), steps=150, eval_chips=256)
FULL = Config(weights=(0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0), steps=300)

BOUNDS = {"current_ma": (6.5, 15.0), "nonlinear_shift_ghz": (0.005, 0.2)}
AVERAGE_NS = 100.0  # the power is averaged over the last 100 ns of a solve


def device() -> pn.STONetwork:
    return pn.STONetwork(temperature_k=0.0)


def objective(dev, key, n, weight, config):
    """J over ``n`` chips drawn from ``dev`` with ``key`` (``n = 0``: the device alone), and the
    chips' frequencies (GHz) and DC powers (W)."""
    if n:
        dev = codesign.fabricate(dev, key, {"current_ma": config.spread}, n,
                                 distribution="lognormal")
    t1 = config.t1_ns
    y0 = jnp.broadcast_to(jnp.array([[0.4], [0.0]]), (max(n, 1), 2, 1))
    tr = pn.simulate(dev, None, t1=t1, dt=config.dt_ns, y0=y0,
                     saveat=np.array([t1 - AVERAGE_NS, t1]))
    f = tr.obs["frequency_ghz"][-1, :, 0]
    watts = codesign.energy(dev, tr) / (AVERAGE_NS * 1e-9)
    j = jnp.mean(((f - config.target_ghz) * 1e3) ** 2) + weight * jnp.mean(watts) * 1e3
    return j, (f, watts)


@functools.lru_cache(maxsize=None)
def _optimizer(lr: float, steps: int) -> optax.GradientTransformation:
    return optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.1))


@eqx.filter_jit
def _step(params, static, opt_state, key, weight, n, config, opt):
    """One Adam step on J; compiled once for every weight (a traced argument) of a run."""
    def loss(p):
        return objective(eqx.combine(p, static).device, key, n, weight, config)[0]
    j, g = eqx.filter_value_and_grad(loss)(params)
    updates, opt_state = opt.update(g, opt_state, params)
    return eqx.apply_updates(params, updates), opt_state, j


def train(design, weight, across_chips: bool, config, checkpoint=None):
    """Adam (cosine-decayed rate) on the design variables through the solve; fresh chips every
    step (``jax.random.fold_in(key, step)``) when ``across_chips``. Returns the design and the
    history of J."""
    n = config.chips if across_chips else 0
    opt = _optimizer(config.lr, config.steps)
    params, static = eqx.partition(design, design.filter_spec)
    key = jax.random.key(config.seed)
    weight = jnp.asarray(weight, dtype=jnp.float32)

    def step(i, state):
        p, s, j = _step(*state[:1], static, state[1], jax.random.fold_in(key, i), weight, n,
                        config, opt)
        return (p, s), {"J": j}

    (params, _), history = pn.train.train_loop(
        step, (params, opt.init(params)), config.steps, checkpoint=checkpoint,
        owner="sto-codesign")
    return eqx.combine(params, static), history["J"]


def _chips(currents_ma, config):
    """The chips' currents at the 40 Gauss-Hermite nodes of the lognormal spread (a last axis),
    their weights, and their free-running powers p0 (Slavin & Tiberkevich)."""
    dev = device()
    s = config.spread
    x, w = np.polynomial.hermite_e.hermegauss(40)
    i_c = np.asarray(currents_ma)[..., None] * np.exp(s * x - 0.5 * s**2)
    z = i_c / float(dev.threshold_ma[0])
    return i_c, w / w.sum(), np.maximum(z - 1, 0) / (z + float(dev.nonlinear_damping[0]))


def expected_objective(currents_ma, shifts_ghz, weight, config):
    """E[J] over the lognormal current spread, in closed form (Gauss-Hermite quadrature), for
    arrays of designs (broadcast against each other); also E[(f - f*)^2] in MHz^2 and E[P] in mW."""
    dev = device()
    f0, r = float(dev.f0_ghz[0]), float(dev.resistance_ohm[0])
    i_c, w, p0 = _chips(currents_ma, config)
    f = f0 + np.asarray(shifts_ghz)[..., None] * p0
    err2 = ((f - config.target_ghz) * 1e3) ** 2 @ w
    power_mw = (i_c**2 * r * 1e-6 * 1e3) @ w
    return err2 + weight * power_mw, err2, power_mw


def closed_form_optimum(weight, config, interior: bool = True):
    """The design minimising the expected J: (I*, N*, J*). E[J] is quadratic in N, so for each
    current on a grid of 1 uA the best N in its bounds is exact,
    N = (f* - f0) E[p] / E[p^2] clipped to them; the best current on the grid follows. With
    ``interior`` an optimum on the bounds is an error (the runs' weights are chosen so that the
    bounds do not decide)."""
    (lo_i, hi_i), (lo_n, hi_n) = BOUNDS["current_ma"], BOUNDS["nonlinear_shift_ghz"]
    currents = np.arange(lo_i, hi_i + 1e-9, 0.001)
    _, w, p = _chips(currents, config)
    best_n = (config.target_ghz - float(device().f0_ghz[0])) * (p @ w) / (p**2 @ w)
    shifts = np.clip(best_n, lo_n, hi_n)
    j = expected_objective(currents, shifts, weight, config)[0]
    a = int(np.argmin(j))
    if interior and (a in (0, len(currents) - 1) or not lo_n < best_n[a] < hi_n):
        raise RuntimeError(f"sto-codesign: the optimum for weight {weight} lies on the bounds; "
                           "it is not an interior optimum")
    return float(currents[a]), float(shifts[a]), float(j[a])


def train_and_judge(start, weight, across_chips: bool, config, checkpoint) -> dict:
    """Train the design (:func:`train`) and judge it: its expected J in closed form, and J, the
    rms frequency error and the DC power on ``eval_chips`` chips that no training step drew."""
    design, hist = train(start, weight, across_chips, config, checkpoint=checkpoint)
    v = design.values()
    cur, shift = float(v["current_ma"][0]), float(v["nonlinear_shift_ghz"][0])
    eval_key = jax.random.key(config.seed + 1000)
    j_held, (f, watts) = objective(design.device, eval_key, config.eval_chips, weight, config)
    return {"current_ma": cur, "shift_mhz": 1e3 * shift,
            "J_expected": float(expected_objective(cur, shift, weight, config)[0]),
            "J_heldout": float(j_held),
            "frequency_rms_error_mhz": float(1e3 * jnp.sqrt(jnp.mean((f - config.target_ghz) ** 2))),
            "power_mw": float(1e3 * jnp.mean(watts)), "J_first": hist[0], "J_last": hist[-1]}


def run(config: Config, out_dir) -> dict:
    """The protocol: the closed-form optima, then for every weight a design trained across chips
    and one trained on the nominal device, both judged on held-out chips; the figure."""
    out_dir = Path(out_dir)
    # an interrupted run resumes: the optima and each training are stages in out_dir/checkpoints,
    # and each training loop checkpoints its steps
    stages = pn.checkpoint.Stages.of_run(out_dir, config, "sto-codesign")
    optima = stages("closed_form", lambda: [closed_form_optimum(w, config) for w in config.weights])
    start = codesign.constrain(device(), BOUNDS)
    rows = []
    for k, weight in enumerate(tqdm(config.weights, desc="sto-codesign: weights", leave=False)):
        i_opt, n_opt, j_opt = optima[k]
        row = {"weight": weight,
               "closed_form": {"current_ma": i_opt, "shift_mhz": 1e3 * n_opt, "J": j_opt}}
        for name, across in (("across_chips", True), ("nominal", False)):
            row[name] = stages(f"{name}_{k}", train_and_judge, start, weight, across, config,
                               stages.path(f"loop_{name}_{k}"))
        rows.append(row)

    pairs = [(r["across_chips"], r["closed_form"]) for r in rows]
    metrics = {
        "excess_over_optimum_max": max(r["J_expected"] / o["J"] - 1 for r, o in pairs),
        "current_error_max_ma": max(abs(r["current_ma"] - o["current_ma"]) for r, o in pairs),
        "shift_error_max_mhz": max(abs(r["shift_mhz"] - o["shift_mhz"]) for r, o in pairs),
        "heldout_J_nominal_over_across_chips_min": min(
            r["nominal"]["J_heldout"] / r["across_chips"]["J_heldout"] for r in rows),
        "nominal_current_max_ma": max(r["nominal"]["current_ma"] for r in rows),
    }
    reference = {
        "excess_over_optimum_max": 0.0,
        "current_error_max_ma": 0.0,
        "shift_error_max_mhz": 0.0,
        "heldout_J_nominal_over_across_chips_min": "> 1: the nominal design is worse across chips",
        "nominal_current_max_ma": "-> 6.5, the lower bound (no spread: precision costs nothing)",
    }
    notes = [
        "reference: the minimum of E[J] over the lognormal current spread in closed form "
        "(f = f0 + N (zeta - 1)/(zeta + Q); Gauss-Hermite quadrature; N exact for each current, "
        "currents on a grid of 1 uA)",
        f"trained with Adam for {config.steps} steps on {config.chips} fresh chips per step; "
        f"judged on {config.eval_chips} chips no step drew",
        *stages.notes(),
    ]
    _figure(out_dir, rows, config)
    return {"metrics": metrics, "reference": reference, "weights": rows, "notes": notes,
            "resumed": stages.resumed, "figures": ["codesign_pareto.png"]}


def _figure(out_dir, rows, config):
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    dense = np.geomspace(min(r["weight"] for r in rows) / 2, max(r["weight"] for r in rows) * 2, 25)
    front = []
    for wgt in dense:
        i_opt, n_opt, _ = closed_form_optimum(wgt, config, interior=False)
        _, err2, p = expected_objective(i_opt, n_opt, wgt, config)
        front.append((float(p), float(np.sqrt(err2)), i_opt))
    front = np.array(front)
    ax.plot(front[:, 0], front[:, 1], "k-", lw=1, label="closed-form optimum (expected)")
    for name, style, label in (("across_chips", "o", "trained across chips"),
                               ("nominal", "s", "trained on the nominal device")):
        ax.plot([r[name]["power_mw"] for r in rows], [r[name]["frequency_rms_error_mhz"] for r in rows],
                style, mfc="none", label=label + " (held-out chips)")
    for r in rows:
        ax.annotate(f"λ={r['weight']:g}", (r["across_chips"]["power_mw"],
                                           r["across_chips"]["frequency_rms_error_mhz"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("DC power (mW)")
    ax.set_ylabel("rms frequency error across chips (MHz)")
    ax.set_title(f"{100 * config.spread:g} % current spread: precision against power")
    ax.legend(fontsize=7)
    bx.semilogx(dense, front[:, 2], "k-", lw=1, label="closed-form optimum")
    bx.semilogx([r["weight"] for r in rows], [r["across_chips"]["current_ma"] for r in rows], "o",
                mfc="none", label="trained across chips")
    bx.semilogx([r["weight"] for r in rows], [r["nominal"]["current_ma"] for r in rows], "s",
                mfc="none", label="trained on the nominal device")
    bx.axhline(BOUNDS["current_ma"][0], color="gray", ls=":", label="lower bound")
    bx.set_xlabel("weight λ of the DC power (per mW)")
    bx.set_ylabel("nominal current (mA)")
    bx.legend(fontsize=7)
    save_figure(fig, out_dir, "codesign_pareto.png")


finished = pn.checkpoint.remove_run_checkpoints
