"""Co-design of appeltant2011 by gradient: the mask, eta, gamma and theta through the exact map,
then the delay tau too through the continuous integrator, each step on a fresh NARMA10 series,
with selection on a fixed validation split and checkpoints that resume."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import physnn as pn
from physnn.checkpoint import config_dict
from physnn.readout import ridge_solve
from physnn.tasks import narma10

from .reservoir import continuous_dt, fit_eval, make_mask, make_node, node_features
from .scans import narma_data


def readout_loss(x_fit, y_fit, x_val, y_val):
    """Validation NRMSE of a ridge readout solved in closed form (``ridge_solve``) on the fit
    rows, differentiable through the features."""
    scale = jnp.std(x_fit) + 1e-12
    w, b = ridge_solve(x_fit / scale, y_fit, 1e-6 * x_fit.shape[1])
    pred = x_val / scale @ w + b
    return jnp.sqrt(jnp.mean((pred - y_val) ** 2) / jnp.var(y_val))



def fresh_narma(config, step, n_samples):
    """The NARMA10 realisation that co-design step ``step`` trains on. Each step draws a new one
    (seeds from ``seed + 1000 + step``; the rare divergent ones are skipped), so the parameters
    cannot fit one particular series; the evaluation series (``seed``) is never among them."""
    seed = config.seed + 1000 + step
    while True:
        try:
            return narma10(n_samples, seed=seed, washout=200)
        except ValueError:  # this realisation diverged
            seed += 100_003



def skip_diverged(loss_fn, diverged_loss=1.0):
    """``loss_fn(model, batch) -> (loss, ok)`` as ``(loss, diverged)`` that skips a diverged
    series: where ``ok`` is false (the node crossed its pole on this series, and its states are
    NaN) the loss is ``diverged_loss`` (1: the NRMSE of predicting the mean), ``diverged`` is 1
    and the gradient is zero, so the optimiser step does not take NaN from it. Elsewhere the
    loss and its gradient are those of ``loss_fn``."""

    @jax.custom_vjp
    def guarded(model, batch):
        loss, ok = loss_fn(model, batch)
        return jnp.where(ok, loss, diverged_loss), jnp.where(ok, 0.0, 1.0)

    def fwd(model, batch):
        loss, vjp, ok = jax.vjp(loss_fn, model, batch, has_aux=True)
        return (jnp.where(ok, loss, diverged_loss), jnp.where(ok, 0.0, 1.0)), (vjp, ok)

    def bwd(res, g):
        vjp, ok = res
        grads = vjp(jnp.where(ok, g[0], 0.0))
        # where, not a product with 0: the backward pass of NaN states is NaN
        return jax.tree_util.tree_map(
            lambda t: t if t.dtype == jax.dtypes.float0 else jnp.where(ok, t, jnp.zeros_like(t)),
            grads)

    guarded.defvjp(fwd, bwd)
    return guarded



def trainable(model, names):
    """The filter spec of ``(node, mask)`` that trains the node fields ``names`` and the mask."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(lambda m: tuple(getattr(m[0], k) for k in names) + (m[1],), spec,
                       (True,) * (len(names) + 1))



def check_resume(ckpt_dir, setup):
    """Checkpoints in ``ckpt_dir`` resume only the same set-up (config and starting point)."""
    pn.checkpoint.bind_checkpoint_dir(ckpt_dir, setup, "appeltant2011 co-design")



def fit_select(model, loss_fn, data, optimizer, steps, every, key, ckpt_dir, score, progress,
                filter_spec):
    """:func:`physnn.train.fit` in chunks of ``every`` steps, keeping the model with the best
    ``score`` (the fixed validation split) among the start and the end of every chunk. The loss
    on fresh series is noisy, and a rare series near the node's pole can throw the parameters
    off; selection on validation data keeps the best state seen. Resumable: the training state,
    the scores so far and the best model are all checkpointed in ``ckpt_dir``.

    A step whose node diverges (crosses its pole: non-finite states, which the loss does not
    skip by itself, as through the integrator) ends the training at the last completed chunk:
    the best state seen until then is kept, and ``stopped`` (the last item of the result,
    otherwise ``None``) records where and why."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    record, best_file = ckpt_dir / "selection.json", ckpt_dir / "best.eqx"
    sel = json.loads(record.read_text()) if record.exists() else {"scores": [[0, score(model)]],
                                                                   "best_step": 0}
    if not best_file.exists():
        pn.checkpoint.save_checkpoint(best_file, model)
    done = {e for e, _ in sel["scores"]}
    hist = {"loss": []}

    def train_to(end):
        return pn.train.fit(model, loss_fn, data, optimizer, steps=end, key=key,
                            checkpoint_dir=ckpt_dir, checkpoint_every=every, progress=progress,
                            filter_spec=filter_spec)

    for end in list(range(every, steps, every)) + [steps]:
        if sel.get("stopped") is not None:
            break
        try:
            trained, hist = train_to(end)
        except (FloatingPointError, RuntimeError) as e:  # RuntimeError: simulate's error_if, traced
            if "non-finite" not in str(e):
                raise
            last = max(e_ for e_, _ in sel["scores"])  # fit's checkpoint is at this step
            why = next(line for line in str(e).splitlines() if "non-finite" in line).strip()
            sel["stopped"] = {"after_step": last, "error": why[:300]}
            record.write_text(json.dumps(sel))
            break
        if end in done:
            continue
        sc = score(trained)
        if sc < min(v for _, v in sel["scores"]):
            pn.checkpoint.save_checkpoint(best_file, trained)
            sel["best_step"] = end
        sel["scores"].append([end, sc])
        record.write_text(json.dumps(sel))
    stopped = sel.get("stopped")
    if stopped is not None:  # the history up to the last completed chunk (from its checkpoint)
        hist = train_to(stopped["after_step"])[1] if stopped["after_step"] > 0 else {"loss": []}
    best, _ = pn.checkpoint.load_checkpoint(best_file, model)
    return best, hist, sel["scores"], sel["best_step"], stopped



def train_codesign(config, start, out_dir=None, progress=True):
    """Co-design by gradient with :func:`physnn.train.fit` (checkpointed: an interrupted run
    resumes where it stopped). Phase 1 trains the mask, eta, gamma and theta through the map;
    phase 2 trains the mask, eta, gamma and the delay tau (fractional) through the continuous
    integrator. Every step fits the ridge readout on a fresh NARMA10 series and scores it on the
    rest of that series."""
    u, y, fit, val, train, test = narma_data(config)
    n, w = config.n_nodes, config.narma_washout
    theta0 = start["theta"]
    big_d = n + start["desync"]  # the delay in node intervals
    node = make_node(config, start["eta"], start["gamma"], start["desync"], theta0)
    ckpt = Path(out_dir if out_dir is not None else tempfile.mkdtemp()) / "checkpoints"
    check_resume(ckpt, {"config": config_dict(config), "start": start})

    def val_nrmse(nd, mask, th):  # the fixed validation split of the evaluation series
        try:
            return fit_eval(node_features(nd, u, mask, th), y, fit, val)[0]
        except FloatingPointError:  # the node diverged on this series
            return float("inf")

    n_fit = config.narma_train - config.narma_val

    def batch(n_fit_, n_val_):
        def sample(step, key):
            uu, yy = fresh_narma(config, step, w + n_fit_ + n_val_)
            return jnp.asarray(uu), jnp.asarray(yy[w:w + n_fit_]), jnp.asarray(yy[w + n_fit_:])
        return sample

    def map_loss(model, b):
        nd, mask = model
        nd = eqx.tree_at(lambda m: m.delay, nd, big_d * theta0)  # concrete: the map needs it
        uu, y_fit, y_val = b
        x = pn.node_states(pn.delay_map(nd, pn.Masked(uu, mask, theta0)), n)
        loss = readout_loss(x[w:w + n_fit], y_fit, x[w + n_fit:], y_val)
        return loss, jnp.all(jnp.isfinite(x)) & jnp.isfinite(loss)

    guarded_map_loss = skip_diverged(map_loss)

    def loss_map(model, b, key):
        loss, diverged = guarded_map_loss(model, b)
        return loss, {"diverged": diverged}

    mask0 = jnp.asarray(make_mask(config))

    def score_map(model):
        nd, mk = model
        return val_nrmse(eqx.tree_at(lambda m: m.delay, nd, big_d * float(nd.theta)), mk,
                         float(nd.theta))

    val_start = score_map((node, mask0))
    (node, mask), hist, scores, best_step, stopped = fit_select(
        (node, mask0), loss_map, batch(n_fit, config.narma_val),
        optax.adam(config.codesign_lr), config.codesign_steps, config.codesign_every,
        jax.random.key(0), ckpt / "map", score_map, progress,
        trainable((node, mask0), ("eta", "gamma", "theta")))
    theta = float(node.theta)
    node = eqx.tree_at(lambda m: (m.theta, m.delay), node,
                       (jnp.asarray(theta), jnp.asarray(big_d * theta)))
    x = node_features(node, u, mask, theta)
    test_map = fit_eval(x, y, train, test)[0]
    val_map = fit_eval(x, y, fit, val)[0]

    # phase 2: tau (fractional) too, through the continuous integrator (vectorised method of
    # steps; min_delay keeps it on that path while tau is traced)
    n_tau = config.tau_train
    n_fit2 = (7 * n_tau) // 10
    tau0 = float(node.delay)
    max_delay, min_delay = 1.2 * tau0, 0.8 * tau0
    dt = continuous_dt(theta, config.dt_max)

    def states_ode(nd, mk, uu):
        xs = pn.simulate(nd, pn.Masked(uu, mk, theta), dt=dt, max_delay=max_delay,
                         min_delay=min_delay, observe=False).ys
        return pn.node_states(xs, n)

    def loss_ode(model, b, key):
        nd, mk = model
        uu, y_fit, y_val = b
        xs = states_ode(nd, mk, uu)
        return readout_loss(xs[w:w + n_fit2], y_fit, xs[w + n_fit2:], y_val), {"tau": nd.delay}

    sample2 = batch(n_fit2, n_tau - n_fit2)

    def dloss_dtau(model):  # on the first phase-2 series
        g = eqx.filter_grad(lambda m: loss_ode(m, sample2(0, None), None)[0])(model)
        return float(g[0].delay)

    spec2 = trainable((node, mask), ("eta", "gamma", "delay"))

    def labels(params):  # its own learning rate for tau (in units of the response time)
        return eqx.tree_at(lambda m: m[0].delay, jax.tree_util.tree_map(lambda _: "base", params),
                           "tau")

    opt2 = optax.multi_transform(
        {"base": optax.adam(config.codesign_lr), "tau": optax.adam(config.tau_lr)}, labels)

    def score_ode(model):
        try:
            xs = np.asarray(states_ode(model[0], model[1], jnp.asarray(u)))
        except pn.SimulationError:  # the node diverged on this series
            return float("inf")
        return fit_eval(xs, y, fit, val)[0]

    grads = [dloss_dtau((node, mask))]
    (node2, mask2), hist2, scores2, best_step2, stopped2 = fit_select(
        (node, mask), loss_ode, sample2, opt2, config.tau_steps, config.tau_every,
        jax.random.key(1), ckpt / "tau", score_ode, progress, spec2)
    grads.append(dloss_dtau((node2, mask2)))
    x2 = np.asarray(states_ode(node2, mask2, jnp.asarray(u)))
    test_ode = fit_eval(x2, y, train, test)[0]
    return {"curve": hist["loss"], "curve_tau": hist2["loss"], "taus": [tau0] + hist2.get("tau", []),
            "dloss_dtau": grads, "val_start": val_start, "val_map": val_map,
            "val_scores_map": scores, "best_step_map": best_step, "val_scores_tau": scores2,
            "best_step_tau": best_step2, "skipped_map": int(sum(hist.get("diverged", []))),
            "stopped_map": stopped, "stopped_tau": stopped2,
            "eta": float(node2.eta), "gamma": float(node2.gamma), "theta": theta,
            "tau": float(node2.delay), "tau_over_theta": float(node2.delay) / theta,
            "test_map": test_map, "test_continuous": test_ode}
