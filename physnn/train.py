"""An optax training loop for equinox models, with exact, crash-safe checkpoint/resume.

[`fit`][] trains the inexact-array leaves of an `equinox.Module` (or of any PyTree) with an optax
optimiser. Everything random in step `s` is derived from `jax.random.fold_in(key, s)`, so a run
depends only on `(model, loss_fn, data, optimizer, key)`: a run interrupted and resumed from its
checkpoint ends with parameters that are bitwise identical to an uninterrupted run.

For what `fit` does not cover, [`train_loop`][] runs a hand-written step function with the same
checkpoints and exact resume. The checkpoint format, interrupt handling and the stages of a longer
run live in [`physnn.checkpoint`][].
"""

from __future__ import annotations

import math
import operator
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optax
from jaxtyping import PyTree
from tqdm import tqdm

from .checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    InterruptGuard,
    load_checkpoint,
    recovery_hint,
    save_checkpoint,
)

__all__ = ["fit", "train_loop", "poisoned_leaves"]

# ----------------------------------------------------------------------------------------------
# Argument validation
# ----------------------------------------------------------------------------------------------


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a positive int, got a bool")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(
            f"{name}={value!r} must be a positive int, got {type(value).__name__}"
        ) from None
    if n <= 0:
        raise ValueError(f"{name}={n!r} must be a positive int (>= 1)")
    return n


# ----------------------------------------------------------------------------------------------
# Training loop
# ----------------------------------------------------------------------------------------------


def _split_loss(out):
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], dict):
            raise TypeError(
                "loss_fn must return a scalar loss or a tuple (loss, metrics) with metrics a dict "
                f"of scalars; got a tuple of length {len(out)}"
                + (f" whose second element is a {type(out[1]).__name__}" if len(out) == 2 else "")
            )
        loss, metrics = out
    else:
        loss, metrics = out, {}
    if jnp.shape(loss) != ():
        raise TypeError(f"loss_fn must return a scalar loss, got shape {jnp.shape(loss)}")
    for name, value in metrics.items():
        if not isinstance(name, str) or name in ("step", "loss"):
            raise ValueError(
                f"metric names must be strings other than 'step' and 'loss', got {name!r}"
            )
        if jnp.shape(value) != ():
            raise TypeError(f"metric {name!r} must be a scalar, got shape {jnp.shape(value)}")
    return loss, metrics


def _cached_step(loss_fn, optimizer: optax.GradientTransformation):
    """The jitted step for this loss and optimiser, built once: repeated ``fit`` calls with the
    same ``loss_fn`` and ``optimizer`` objects (training in chunks, resuming in the same process)
    reuse its compilation instead of tracing a fresh step each time."""
    for fn, opt, step in _STEPS:
        if fn is loss_fn and opt is optimizer:
            return step
    step = _make_step(loss_fn, optimizer)
    _STEPS.append((loss_fn, optimizer, step))
    del _STEPS[:-8]  # keep the most recent few
    return step


_STEPS: list = []


def _make_step(loss_fn, optimizer: optax.GradientTransformation):
    def objective(params, static, batch, key):
        return _split_loss(loss_fn(eqx.combine(params, static), batch, key))

    grad_fn = eqx.filter_value_and_grad(objective, has_aux=True)

    @eqx.filter_jit
    def step(params, static, opt_state, batch, key):
        (loss, metrics), grads = grad_fn(params, static, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = eqx.apply_updates(params, updates)
        return params, opt_state, loss, metrics

    return step


@jax.jit
def _newly_non_finite(old: list, new: list):
    """Per pair of floating arrays: whether ``new`` holds a NaN or inf where ``old`` held a
    finite value (anywhere, when the shapes differ). Values that were already non-finite, like a
    best-so-far initialised to inf, are not counted."""
    return jnp.stack([jnp.any(~jnp.isfinite(b) & jnp.isfinite(a)) if a.shape == b.shape
                      else jnp.any(~jnp.isfinite(b)) for a, b in zip(old, new, strict=True)])


def poisoned_leaves(old, new) -> list[str]:
    """The paths (``jax.tree_util.keystr``) of the floating leaves of ``new`` that a training
    step from ``old`` made non-finite; empty when none. ``fit`` and ``train_loop`` check every
    step with it, so that a finite loss with a NaN gradient cannot commit (and checkpoint) NaN
    parameters. A step that changes the tree's structure is checked for any non-finite value."""
    flat_new, tree = jax.tree_util.tree_flatten_with_path(new)
    flat_old = jax.tree_util.tree_leaves(old)
    same = tree == jax.tree_util.tree_structure(old)
    pairs, names = [], []
    for k, (path, b) in enumerate(flat_new):
        if eqx.is_array(b) and jnp.issubdtype(b.dtype, jnp.inexact):
            a = flat_old[k] if same else None
            a = a if eqx.is_array(a) and a.dtype == b.dtype else np.zeros((0,), b.dtype)
            pairs.append((a, b))
            names.append(jax.tree_util.keystr(path) or "<root>")
    if not pairs:
        return []
    flags = np.asarray(_newly_non_finite([a for a, _ in pairs], [b for _, b in pairs]))
    return [n for n, f in zip(names, flags, strict=True) if f]


@jax.jit
def _step_keys(key, step):
    return jax.random.split(jax.random.fold_in(key, step))


def _warn_nothing_trainable(model) -> None:
    """The warning of :func:`fit` for a model with no floating-point array to train."""
    floats = sum(isinstance(x, float) for x in jax.tree_util.tree_leaves(model))
    why = (f"; {floats} of the model's leaves are Python floats, which JAX treats as constants"
           if floats else "")
    warnings.warn(
        "fit: nothing in the model is trainable: no leaf selected by filter_spec is a "
        f"floating-point JAX array{why}. Pass parameters as arrays (e.g. jnp.asarray(0.5), not "
        "0.5) or check filter_spec; as it is, every step leaves the model unchanged.",
        UserWarning, stacklevel=3)


def fit(
    model: PyTree,
    loss_fn: Callable[[PyTree, Any, Any], Any],
    data: PyTree | Callable[[int, Any], Any],
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    key,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 50,
    progress: bool = True,
    log_every: int = 1,
    filter_spec: PyTree | Callable[[Any], bool] = eqx.is_inexact_array,
) -> tuple[PyTree, dict[str, list]]:
    """Train `model` with `optimizer`, optionally checkpointing so that the run can be resumed.

    Step `s` (numbered from 0) draws `data_key, loss_key = jax.random.split(jax.random.fold_in(key,
    s))`, fetches `batch = data(s, data_key)` (or uses `data` itself for full-batch training),
    and applies one optimiser update computed from `loss_fn(model, batch, loss_key)`. As the
    randomness depends only on `(key, s)`, resuming from a checkpoint reproduces an uninterrupted
    run bit for bit (given deterministic `loss_fn` and `data`).

    The update is one `eqx.filter_jit`-compiled function, traced once per call of `fit` (again
    only if the batch's shapes/dtypes change). The loss is copied to the host after every step to
    check it is finite.

    **Arguments:**

    - `model`: the PyTree to train, usually an `equinox.Module`.
    - `loss_fn`: `loss_fn(model, batch, key)` returning a scalar loss, or `(loss, metrics)` with
        `metrics` a dict of scalars (recorded in the history under their names).
    - `data`: either a PyTree of arrays used as the batch at every step (full batch), or a
        callable `data(step, key) -> batch` (a minibatch sampler; `step` is the global step
        number, so a resumed run sees the same batches). Any callable is treated as a sampler.
    - `optimizer`: an `optax.GradientTransformation`.
    - `steps`: total number of optimisation steps (a resumed run continues up to `steps`).
    - `key`: a JAX PRNG key; the only source of randomness.
    - `checkpoint_dir`: if given, the directory (created if needed) holding the checkpoint file
        `checkpoint.eqx`, rewritten atomically every `checkpoint_every` steps, at the end, and on
        `KeyboardInterrupt`/SIGTERM (state after the last completed step). If it already holds a
        checkpoint, training resumes from it; if that checkpoint is at or past `steps` the loaded
        model is returned at once. Only trainable parameters and the optimiser state are saved;
        everything else comes from `model`.
    - `checkpoint_every`: checkpoint period in steps (positive int).
    - `progress`: show a tqdm progress bar with the current loss.
    - `log_every`: record history (and refresh the progress bar's loss) every `log_every` steps,
        and at the last step.
    - `filter_spec`: which leaves are trained, as for `eqx.partition`: a callable on leaves or a
        PyTree of bools. Only inexact (floating) arrays among the selected leaves are trained;
        when there are none (e.g. parameters given as Python floats) `fit` warns
        (`UserWarning`) and the model comes back unchanged.

    **Returns:**

    A tuple `(model, history)`: the trained model, and a dict of lists of Python numbers with
    keys `"step"` (step numbers, from 0), `"loss"`, and one per metric returned by `loss_fn`.

    **Raises:**

    - `ValueError` for invalid `steps`, `checkpoint_every` or `log_every`.
    - `FloatingPointError` if the loss becomes non-finite; the message names the step and value.
        Parameters are not updated and no checkpoint is written for that step.
    - `CheckpointError` if the checkpoint in `checkpoint_dir` is corrupt or does not match the
        model/optimiser given.
    - `KeyboardInterrupt` (also raised on SIGTERM, when running in the main thread) after saving
        a checkpoint of the last completed step.
    """
    steps = _positive_int("steps", steps)
    checkpoint_every = _positive_int("checkpoint_every", checkpoint_every)
    log_every = _positive_int("log_every", log_every)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(
            f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}"
        )
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if key is None:
        raise ValueError("key must be a JAX PRNG key (e.g. jax.random.key(0)), got None")

    params, static = eqx.partition(model, filter_spec)
    params, frozen = eqx.partition(params, eqx.is_inexact_array)
    static = eqx.combine(static, frozen)
    if not jax.tree_util.tree_leaves(params):
        _warn_nothing_trainable(model)
    # weakly typed leaves (e.g. jnp.asarray(0.7)) would come back strongly typed from the first
    # update and make the jitted step compile a second time
    params = jax.tree_util.tree_map(lambda x: jax.lax.convert_element_type(x, x.dtype), params)
    opt_state = optimizer.init(params)

    history: dict[str, list] = {"step": [], "loss": []}
    start = 0
    ckpt = None
    if checkpoint_dir is not None:
        directory = pathlib.Path(checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        ckpt = directory / CHECKPOINT_NAME
        if ckpt.exists():
            (params, opt_state), header = load_checkpoint(ckpt, (params, opt_state))
            start = header.get("step")
            loaded = header.get("history")
            if not isinstance(start, int) or isinstance(start, bool) or start < 0:
                raise CheckpointError(f"{ckpt}: header has no valid 'step' (got {start!r}). "
                                      f"{recovery_hint(ckpt)}")
            if not (isinstance(loaded, dict) and all(isinstance(v, list) for v in loaded.values())):
                raise CheckpointError(f"{ckpt}: header has no valid 'history' dict of lists. "
                                      f"{recovery_hint(ckpt)}")
            history = {"step": [], "loss": [], **loaded}
            if start >= steps:
                return eqx.combine(params, static), history

    def save(completed: int) -> None:
        save_checkpoint(ckpt, (params, opt_state), {"step": completed, "history": history})

    step_fn = _cached_step(loss_fn, optimizer)
    sampler = callable(data)
    completed = last_saved = start
    guard = InterruptGuard()
    with guard:
        pbar = tqdm(total=steps, initial=start, disable=not progress, desc="fit", unit="step")
        try:
            for s in range(start, steps):
                data_key, loss_key = _step_keys(key, s)
                batch = data(s, data_key) if sampler else data
                new_params, new_opt_state, loss, metrics = step_fn(
                    params, static, opt_state, batch, loss_key
                )
                loss_value = float(loss)
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"fit: non-finite loss {loss_value!r} at step {s}; parameters are left as "
                        f"after step {s - 1} and no checkpoint is written for step {s}"
                    )
                bad = poisoned_leaves((params, opt_state), (new_params, new_opt_state))
                if bad:
                    raise FloatingPointError(
                        f"fit: the loss is finite ({loss_value!r}) but step {s} made "
                        f"{', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} of (params, "
                        f"opt_state) non-finite (a NaN or inf gradient?); parameters are left as "
                        f"after step {s - 1} and no checkpoint is written for step {s}"
                    )
                log = s % log_every == 0 or s == steps - 1
                values = {k: float(v) for k, v in metrics.items()} if log else {}
                with guard.critical():
                    params, opt_state = new_params, new_opt_state
                    completed = s + 1
                    if log:
                        history["step"].append(s)
                        history["loss"].append(loss_value)
                        for k, v in values.items():
                            history.setdefault(k, []).append(v)
                if log:
                    pbar.set_postfix(loss=f"{loss_value:.4g}", refresh=False)
                pbar.update(1)
                if ckpt is not None and completed % checkpoint_every == 0:
                    with guard.critical():
                        save(completed)
                        last_saved = completed
        except KeyboardInterrupt:
            if ckpt is not None and completed != last_saved:
                with guard.critical(raise_pending=False):
                    save(completed)
                    last_saved = completed
            raise
        finally:
            pbar.close()
        if ckpt is not None and completed != last_saved:
            with guard.critical():
                save(completed)
                last_saved = completed
    return eqx.combine(params, static), history


# ----------------------------------------------------------------------------------------------
# Hand-written loops and runs made of stages
# ----------------------------------------------------------------------------------------------


def _finite_records(owner: str, step: int, record) -> dict[str, float]:
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise ValueError(f"{owner}: the step function must return (state, record) with record a "
                         f"dict of scalars or None, got {type(record).__name__} at step {step}")
    values = {str(k): float(v) for k, v in record.items()}
    for k, v in values.items():
        if not math.isfinite(v):
            raise FloatingPointError(
                f"{owner}: non-finite {k} = {v!r} at step {step}; the state is left as after "
                f"step {step - 1} and no checkpoint is written for step {step}")
    return values


def train_loop(
    step: Callable[[int, PyTree], tuple[PyTree, dict | None]],
    state: PyTree,
    steps: int,
    *,
    checkpoint: str | os.PathLike | None = None,
    every: int = 5,
    owner: str = "train_loop",
    progress=None,
) -> tuple[PyTree, dict[str, list]]:
    """Run a hand-written training loop (e.g. an optax loop that [`fit`][] does not fit) with
    exact, crash-safe checkpoint/resume.

    Step `i` (from 0) is `state, record = step(i, state)`: `state` is a PyTree of arrays (say
    `(params, opt_state)`) and `record` a dict of scalars (say `{"loss": loss}`) or None. Every
    value of `record` is checked to be finite and appended to the history under its name. If
    `step` draws its randomness from `i` (e.g. `jax.random.fold_in(key, i)`), an interrupted and
    resumed loop ends bitwise identical to an uninterrupted one.

    ```python
    opt = optax.adam(1e-2)

    def step(i, state):
        w, opt_state = state
        loss, g = value_and_grad(w, jax.random.fold_in(key, i))
        upd, opt_state = opt.update(g, opt_state, w)
        return (optax.apply_updates(w, upd), opt_state), {"loss": loss}

    (w, _), history = train_loop(step, (w0, opt.init(w0)), 100, checkpoint="out/loop.eqx")
    ```

    **Arguments:**

    - `step`: the step function, `step(i, state) -> (state, record)`.
    - `state`: the initial state; also the template a checkpoint is loaded against.
    - `steps`: total number of steps (an int >= 0; a resumed loop continues up to `steps`).
    - `checkpoint`: a file (its folder must exist). If it exists the loop resumes from it (state,
        step and history); it is rewritten atomically every `every` steps, after the last step,
        and on `KeyboardInterrupt` or SIGTERM (the state after the last completed step).
    - `every`: checkpoint period in steps (positive int). A process killed outright (SIGKILL)
        redoes at most `every - 1` steps.
    - `owner`: a name for messages; a checkpoint written under another owner is refused.
    - `progress`: an object with `update(n)` (e.g. a tqdm bar), advanced once per step and by the
        steps already done when resuming.

    **Returns:**

    `(state, history)`: the final state and a dict of lists of floats, one per record name.

    **Raises:**

    - `ValueError` for invalid `steps` or `every`, or a step that does not return a record dict.
    - `FloatingPointError` naming the step if a record value is not finite; the state of the
        previous step is kept and no checkpoint is written for that step.
    - `CheckpointError` if the checkpoint is corrupt, of another owner, past `steps`, or does not
        match `state`.
    - `KeyboardInterrupt` (also on SIGTERM in the main thread) after saving a checkpoint.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"{owner}: steps = {steps!r}; expected an int >= 0")
    steps = int(steps)
    every = _positive_int("every", every)
    # weakly typed leaves would come back strongly typed from a checkpoint: make both paths equal
    state = jtu.tree_map(
        lambda x: jax.lax.convert_element_type(x, x.dtype) if isinstance(x, jax.Array) else x, state)
    history: dict[str, list] = {}
    done = 0
    path = None if checkpoint is None else pathlib.Path(checkpoint)
    if path is not None and path.exists():
        state, header = load_checkpoint(path, state)
        rec = header.get("train_loop")
        if not isinstance(rec, dict) or rec.get("owner") != owner:
            found = rec.get("owner") if isinstance(rec, dict) else None
            raise CheckpointError(f"{path}: not a checkpoint of {owner}'s loop (owner {found!r}). "
                                  f"{recovery_hint(path)}")
        done, history = rec.get("step"), rec.get("history")
        if isinstance(done, bool) or not isinstance(done, int) or not 0 <= done <= steps:
            raise CheckpointError(f"{path}: step {done!r} in the checkpoint; expected an int "
                                  f"from 0 to steps = {steps}. {recovery_hint(path)}")
        if not (isinstance(history, dict) and all(isinstance(v, list) for v in history.values())):
            raise CheckpointError(f"{path}: header has no valid 'history' dict of lists. "
                                  f"{recovery_hint(path)}")
        if progress is not None:
            progress.update(done)

    def save():
        save_checkpoint(path, state, {"train_loop": {"owner": owner, "step": done,
                                                     "history": history}})

    saved = done
    guard = InterruptGuard()
    with guard:
        try:
            for i in range(done, steps):
                new_state, record = step(i, state)
                values = _finite_records(owner, i, record)
                bad = poisoned_leaves(state, new_state)
                if bad:
                    raise FloatingPointError(
                        f"{owner}: step {i} made {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}"
                        f" of the state non-finite (a NaN or inf gradient?); the state is left as "
                        f"after step {i - 1} and no checkpoint is written for step {i}")
                with guard.critical():  # a step is committed as a whole
                    state, done = new_state, i + 1
                    for k, v in values.items():
                        history.setdefault(k, []).append(v)
                if path is not None and done % every == 0:
                    with guard.critical():
                        save()
                        saved = done
                if progress is not None:
                    progress.update(1)
        except KeyboardInterrupt:
            if path is not None and done != saved:
                with guard.critical(raise_pending=False):
                    save()
            raise
        if path is not None and done != saved:
            with guard.critical():
                save()
    return state, history


