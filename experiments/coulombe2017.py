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
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import physnn as pn
from physnn.devices.mechanical import simulate_checked
from physnn.readout import ridge_fit
from physnn.tasks.parity import parity_targets

QUICK = {
    "n_resonators": 10, "q": 4000.0, "f0_mhz": 2.2, "spread_linewidths": 2.0,
    "drive_detuning_linewidths": -8.0, "input_gain": 0.8, "temperature_k": 300.0,
    "bit_periods_tau": [0.25, 0.5], "drive_pn": [16.0, 32.0],
    "n_bits": 500, "n_washout": 50, "n_train": 330, "samples_per_bit": 4, "dt_max_us": 2.5,
    "spreads": [0.0, 1e-4, 1e-3], "n_trials": 2,
    "fsdd_every": 5, "fsdd_frames": 12, "fsdd_frame_tau": 0.25, "fsdd_gain": 0.1, "seed": 0,
}
FULL = {
    **QUICK,
    "bit_periods_tau": [0.125, 0.25, 0.5, 1.0], "drive_pn": [4.0, 8.0, 16.0, 24.0, 32.0],
    "n_bits": 1200, "n_washout": 100, "n_train": 800,
    "spreads": [0.0, 1e-5, 1e-4, 1e-3, 3e-3], "n_trials": 4,
    "fsdd_every": 1, "fsdd_frames": 16,
}
ORDERS = (3, 4, 5)


# ---------------------------------------------------------------- device and data


def ring_down_time_us(config) -> float:
    """tau = 2Q/w0: the amplitude memory of one resonator, us."""
    return 2 * config["q"] / (2 * np.pi * config["f0_mhz"])


def reservoir(config, drive_pn, n_inputs=1, gain=None, k3=3e11, temperature_k=None,
              spread=0.0, n_trials=1, key=None):
    """The resonator chain; ``drive_pn`` (and the perturbation trials) become ensemble axes."""
    cfg = config
    n, q, f0 = cfg["n_resonators"], cfg["q"], cfg["f0_mhz"]
    rng = np.random.default_rng(cfg["seed"])
    detune = rng.uniform(-1, 1, n) * cfg["spread_linewidths"] / q
    w_in = rng.uniform(-1, 1, (n, n_inputs)) * (cfg["input_gain"] if gain is None else gain)
    drive = np.asarray(drive_pn, dtype=float).reshape(-1, 1) * np.ones(n)  # (n_drive, N)
    params = {"f0_mhz": f0 * (1 + detune), "q": np.full(n, q), "mass_kg": np.full(n, 1e-15),
              "k3_n_per_m3": np.full(n, k3), "coupling": pn.devices.mechanical.coupling_matrix(
                  n, 2e-4, "chain"), "input_gain": w_in}
    if spread:
        keys = jax.random.split(key, len(params))
        for (name, v), k in zip(list(params.items()), keys, strict=True):
            xi = np.asarray(jax.random.normal(k, (n_trials,) + v.shape))
            if name == "coupling":  # a spring is one element: one draw per link
                xi = pn.codesign.per_link(xi)
            params[name] = (v * (1 + spread * xi))[:, None]  # (trials, 1 drive, ...)
    t = cfg["temperature_k"] if temperature_k is None else temperature_k
    return pn.DuffingNetwork(
        f0_mhz=params["f0_mhz"], q=params["q"], mass_kg=params["mass_kg"],
        k3_n_per_m3=params["k3_n_per_m3"], coupling_n_per_m=params["coupling"], topology=None,
        drive_force_pn=drive, temperature_k=t, input_gain=params["input_gain"],
        drive_mhz=f0 * (1 + cfg["drive_detuning_linewidths"] / q))


def run_stream(dev, bits, period_us, config, key):
    """Simulate the bit stream; return features (batch..., n_bits, samples * 2N) and the mean
    dissipated power (W, batch...)."""
    s = config["samples_per_bit"]
    hold = period_us / s
    n_sub = max(2, int(np.ceil(hold / config["dt_max_us"])))
    drive = pn.SampleAndHold(np.repeat(np.asarray(bits, float), s), hold=hold)
    traj = simulate_checked(dev, drive, dt=hold / n_sub, saveat="holds", key=key)
    ys = np.asarray(traj.ys)  # (n_bits * s, batch..., 2, N)
    power = np.asarray(jax.vmap(dev.power)(traj.ts, traj.ys, traj.us)).mean(axis=0)
    ys = ys.reshape((len(bits), s) + ys.shape[1:])
    ys = np.moveaxis(ys.reshape(ys.shape[:2] + ys.shape[2:-2] + (-1,)), (0, 1), (-3, -2))
    return ys.reshape(ys.shape[:-3] + (len(bits), -1)), power


def success(features, bits, config, readouts=None):
    """Success probabilities for P3, P4, P5 on the test bits; fits readouts unless given."""
    w, n_tr = config["n_washout"], config["n_train"]
    fitted, probs = [], []
    for i, n in enumerate(ORDERS):
        y = parity_targets(bits, n).astype(float)
        ro = ridge_fit(features[w:n_tr], y[w:n_tr]) if readouts is None else readouts[i]
        pred = np.asarray(ro(features[n_tr:])).reshape(-1)
        probs.append(float(np.mean((pred > 0.5) == (y[n_tr:] > 0.5))))
        fitted.append(ro)
    return np.array(probs), fitted


def validation_success(features, bits, config):
    """Success probabilities for P3, P4, P5 on the validation bits, without the test bits: the
    readouts are fitted on the first 3/4 of the training bits after the washout and scored on the
    last 1/4 (the convention of dion2018's ``parity_scores``)."""
    w, n_tr = config["n_washout"], config["n_train"]
    n_fit = w + (3 * (n_tr - w)) // 4
    probs = []
    for n in ORDERS:
        y = parity_targets(bits[:n_tr], n).astype(float)
        ro = ridge_fit(features[w:n_fit], y[w:n_fit])
        pred = np.asarray(ro(features[n_fit:n_tr])).reshape(-1)
        probs.append(float(np.mean((pred > 0.5) == (y[n_fit:] > 0.5))))
    return np.array(probs)


def choose_point(val_probs):
    """The operating point ``(i, j)`` (bit period, drive) of a map of validation success
    probabilities ``(orders, periods, drives)``: the highest P3, ties broken by the highest
    P4 + P5, then by the first point in the map. Test success plays no part."""
    val = np.asarray(val_probs)
    order = np.lexsort((-val[1:].sum(axis=0).ravel(), -val[0].ravel()))  # stable: first wins
    return np.unravel_index(order[0], val[0].shape)


# ---------------------------------------------------------------- the experiment


def parity_maps(config, bits, key):
    """Test and validation success probabilities over (bit period, drive amplitude) for P3..P5
    (``(orders, periods, drives)`` each); energy per bit."""
    tau = ring_down_time_us(config)
    periods = np.asarray(config["bit_periods_tau"]) * tau
    drives = np.asarray(config["drive_pn"])
    dev = reservoir(config, drives)
    probs = np.zeros((len(ORDERS), len(periods), len(drives)))
    val = np.zeros_like(probs)
    energy = np.zeros((len(periods), len(drives)))
    features = []
    for i, t in enumerate(tqdm(periods, desc="coulombe2017: bit periods", leave=False)):
        feats, power = run_stream(dev, bits, t, config, jax.random.fold_in(key, i))
        for j in range(len(drives)):
            probs[:, i, j] = success(feats[j], bits, config)[0]
            val[:, i, j] = validation_success(feats[j], bits, config)
        energy[i] = power * t * 1e-6
        features.append(feats)
    return periods, drives, probs, val, energy, features


def controls(config, bits, period, drive, key):
    """At the chosen point, in one batched solve: the linear chain (k3 = 0, with thermal noise) and
    the noise-free Duffing chain."""
    dev = reservoir(config, [drive])
    n = config["n_resonators"]
    dev = eqx.tree_at(lambda d: (d.k3_n_per_m3, d.temperature_k), dev, (
        jnp.asarray([[0.0] * n, [3e11] * n]), jnp.asarray([[config["temperature_k"]] * n, [0.0] * n])))
    feats, _ = run_stream(dev, bits, period, config, key)
    return {"linear_k3_0": success(feats[0], bits, config)[0],
            "noise_free": success(feats[1], bits, config)[0]}


def robustness(config, bits, period, drive, nominal, key):
    """Success vs relative parameter spread sigma, retrained (pre) and not retrained (post);
    ``nominal``: the features of the unperturbed chain at this point (from the map)."""
    nominal = nominal[None]
    _, readouts = success(nominal[0], bits, config)
    spreads = np.asarray(config["spreads"])
    pre = np.zeros((len(spreads), config["n_trials"], len(ORDERS)))
    post = np.zeros_like(pre)
    unstable = 0
    for i, s in enumerate(tqdm(spreads, desc="coulombe2017: spreads", leave=False)):
        if s == 0:
            pre[i], post[i] = success(nominal[0], bits, config)[0], success(
                nominal[0], bits, config, readouts)[0]
            continue
        dev = reservoir(config, [drive], spread=s, n_trials=config["n_trials"],
                        key=jax.random.fold_in(key, 1000 + i))
        try:
            feats, _ = run_stream(dev, bits, period, config, key)  # (trials, 1, bits, F)
        except pn.SimulationError:
            # a resonator pushed onto a high branch outran the explicit step: not a result
            pre[i], post[i] = np.nan, np.nan
            unstable += config["n_trials"]
            continue
        for k in range(config["n_trials"]):
            pre[i, k] = success(feats[k, 0], bits, config)[0]
            post[i, k] = success(feats[k, 0], bits, config, readouts)[0]
    return spreads, pre, post, unstable


def spoken_digits(config, key):
    """FSDD through the chain: accuracy (official split), vs the same ridge on the MFCCs."""
    from physnn.tasks.fsdd import fsdd_features, fsdd_split, load_fsdd

    data = load_fsdd()
    x = fsdd_features("mfcc", n_frames=config["fsdd_frames"], n_mfcc=13)  # (3000, F, 13)
    train, test = fsdd_split("official", data=data)
    train, test = train[:: config["fsdd_every"]], test[:: config["fsdd_every"]]
    mu, sd = x[train].mean(axis=(0, 1)), x[train].std(axis=(0, 1))
    u = (x - mu) / sd
    labels = np.asarray(data.digits)
    idx = np.concatenate([train, test])
    frame = config["fsdd_frame_tau"] * ring_down_time_us(config)
    dev = reservoir(config, [config["drive_pn_digits"]], n_inputs=13, gain=config["fsdd_gain"])
    washout = np.zeros((len(idx), 4, 13))  # settle under the bare drive before each word
    drive = pn.SampleAndHold(jnp.asarray(np.concatenate([washout, u[idx]], axis=1)), hold=frame)
    n_sub = max(2, int(np.ceil(frame / config["dt_max_us"])))
    traj = simulate_checked(dev, drive, dt=frame / n_sub, saveat="holds", key=key)
    ys = np.asarray(traj.ys)[4:]  # (frames, words, 2, N)
    power = float(np.asarray(jax.vmap(dev.power)(traj.ts, traj.ys, traj.us)).mean())
    feats = np.moveaxis(ys, 1, 0).reshape(len(idx), -1)
    n_tr = len(train)

    def accuracy(f):
        ro = ridge_fit(f[:n_tr], labels[idx[:n_tr]], classify=True)
        return float(np.mean(np.asarray(ro.predict(f[n_tr:])) == labels[idx[n_tr:]]))

    word_time = config["fsdd_frames"] * frame
    return {"accuracy": accuracy(feats), "accuracy_mfcc_only": accuracy(u[idx].reshape(len(idx), -1)),
            "energy_j": power * word_time * 1e-6, "latency_us": word_time,
            "n_train": int(n_tr), "n_test": int(len(test))}


def run(config, out_dir) -> dict:
    out_dir = Path(out_dir)
    key = jax.random.key(config["seed"])
    rng = np.random.default_rng(config["seed"] + 1)
    bits = rng.integers(0, 2, config["n_bits"])
    tau = ring_down_time_us(config)

    # an interrupted run resumes: each phase below is a stage kept in out_dir/checkpoints. The
    # set-up names how the operating point is chosen: the checkpoints of a run that chose it on
    # test bits (before this entry) hold other stages, and are refused, not reused
    stages = pn.checkpoint.Stages(out_dir / pn.checkpoint.RUN_CHECKPOINTS,
                             {"config": config, "operating_point": "validation"}, "coulombe2017")

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
    digits = stages("spoken_digits", spoken_digits, {**config, "drive_pn_digits": point_f},
                    jax.random.fold_in(key, 79))

    _figures(out_dir, periods / tau, drives, probs, (i, j), spreads, pre, post)
    n_test = config["n_bits"] - config["n_train"]
    n_val = config["n_train"] - config["n_washout"] - (3 * (config["n_train"] - config["n_washout"])) // 4
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
        "p3_success_post_training_sigma_1e-4": _at(spreads, post, 1e-4, 0),
        "p3_success_pre_training_sigma_1e-3": _at(spreads, pre, 1e-3, 0),
        "p3_success_post_training_sigma_1e-3": _at(spreads, post, 1e-3, 0),
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
        f"ring-down time tau = 2Q/w0 = {tau:.0f} us; bit periods {list(config['bit_periods_tau'])}"
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


def _at(spreads, values, s, order):
    k = np.flatnonzero(np.isclose(spreads, s))
    return float(values[k[0], :, order].mean()) if len(k) else float("nan")


#: ``physnn run`` calls it once ``results.json`` is written: a new run in the folder starts afresh.
finished = pn.checkpoint.remove_run_checkpoints


def _figures(out_dir, periods_tau, drives, probs, chosen, spreads, pre, post):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for k, ax in enumerate(axes):
        mesh = ax.pcolormesh(np.arange(len(drives) + 1), np.arange(len(periods_tau) + 1), probs[k],
                             vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_xticks(np.arange(len(drives)) + 0.5, [f"{d:g}" for d in drives])
        ax.set_yticks(np.arange(len(periods_tau)) + 0.5, [f"{t:g}" for t in periods_tau])
        ax.set_xlabel("drive amplitude F0 (pN)")
        ax.set_ylabel("bit period T (units of 2Q/w0)")
        ax.plot(chosen[1] + 0.5, chosen[0] + 0.5, "x", color="w", ms=10, mew=2)
        ax.set_title(f"P{ORDERS[k]} test success (x: chosen on validation)", fontsize=9)
    fig.colorbar(mesh, ax=axes, shrink=0.9)
    fig.savefig(Path(out_dir) / "parity_maps.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True, sharey=True)
    x = np.where(spreads > 0, spreads, spreads[spreads > 0].min() / 3)
    for ax, vals, title in ((axes[0], pre, "before training (readout refitted)"),
                            (axes[1], post, "after training (readout kept)")):
        for k, c in zip(range(len(ORDERS)), ("tab:blue", "tab:green", "tab:red"), strict=True):
            m = vals[:, :, k].mean(1)
            e = vals[:, :, k].std(1)
            ax.errorbar(x, m, yerr=e, color=c, marker="o", capsize=3, label=f"P{ORDERS[k]}")
        ax.set_xscale("log")
        ax.set_xlabel("relative parameter spread sigma (leftmost: 0)")
        ax.set_title(title)
    axes[0].set_ylabel("success probability")
    axes[0].legend()
    fig.savefig(Path(out_dir) / "robustness.png", dpi=110)
    plt.close(fig)
