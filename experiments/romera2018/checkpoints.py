"""What a romera2018 run keeps on disk: the checkpoints an interrupted run resumes from, and the
trained model (``model.eqx``) that classifies a user's formants."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

import physnn as pn
from physnn.tasks import ROMERA_VOWELS, check_formants

from .measure import predict_formants
from .model import SECOND_HALF, VowelNetwork, initial_model

CHECKPOINT_DIR = pn.checkpoint.RUN_CHECKPOINTS


class RunCheckpoints:
    """The checkpoints of one ``run`` in a folder (``out_dir/checkpoints``), so that an interrupted
    run resumes where it stopped and ends with exactly what an uninterrupted run gives.

    - Each fold and variant (coupled or not), once both readouts are trained and have classified
      every token, is one file ``fold{f}[_uncoupled].eqx``: the two models, their training
      histories and their predictions.
    - While a fold is training, the rule writes its state after every iteration
      (``..._a_progress.eqx``) and the gradient training every ``GRAD_CHECKPOINT_EVERY`` steps and
      when interrupted (``..._b_progress.eqx``; ``final_b_progress.eqx`` for the model trained on
      every speaker).

    The folder is tied to its set-up: ``setup.json`` holds the config and a digest of the tokens,
    labels, speakers and folds, and a run with another set-up in that folder is an error that
    says what differs. ``physnn run`` removes the folder once ``results.json`` is written
    (``finished``)."""

    def __init__(self, directory, config, x, y, speakers, folds):
        h = hashlib.sha256()
        for a in (x, y, speakers, *(i for fold in folds for i in fold)):
            h.update(np.ascontiguousarray(a).tobytes())
        self.dir = pn.checkpoint.bind_checkpoint_dir(
            directory, {"config": pn.checkpoint.config_dict(config), "data": h.hexdigest()},
            "romera2018")
        self.resumed = []

    def path(self, name) -> Path:
        return self.dir / f"{name}.eqx"

    def load(self, name, like):
        """``(tree, record)`` of a finished unit, or None if it has not finished."""
        p = self.path(name)
        if not p.exists():
            return None
        tree, header = pn.checkpoint.load_checkpoint(p, like)
        if "romera2018_unit" not in header:
            raise pn.checkpoint.CheckpointError(f"romera2018: {p} is not a checkpoint of a finished fold")
        self.resumed.append(name)
        return tree, header["romera2018_unit"]

    def save(self, name, tree, record):
        pn.checkpoint.save_checkpoint(self.path(name), tree, header_extra={"romera2018_unit": record})
        for part in ("_a_progress", "_b_progress"):  # superseded by the finished unit
            self.path(name + part).unlink(missing_ok=True)


#: the configuration fields a saved model is rebuilt from
MODEL_KEYS = ("t1_ns", "dt_ns", "rf_amp_ma", "coupling", "temperature_k", "taper", "lock_slip_cycles")
#: the model's input and observables where they differ from the experiment's (glide, windows)
MODEL_OPTIONS = {"glide": False, "feature_windows": SECOND_HALF, "lock_phase": False}


def save_model(model: VowelNetwork, out_dir, config) -> Path:
    """Write ``model`` to ``out_dir/model.eqx`` with a header that :func:`load_model` rebuilds it
    from: its mode, the fields of ``config`` that shape it, and its input and observable options
    where they are not the experiment's (so that the experiment's header is as it always was)."""
    settings = {k: getattr(config, k) for k in MODEL_KEYS if hasattr(config, k)}
    settings |= {k: getattr(model, k) for k, v in MODEL_OPTIONS.items() if getattr(model, k) != v}
    header = {"mode": model.mode, "config": pn.checkpoint.config_dict(settings)}
    return pn.checkpoint.save_checkpoint(Path(out_dir) / "model.eqx", model, header_extra=header)


def load_model(out_dir) -> VowelNetwork:
    """Load the model a run saved in ``out_dir`` (``model.eqx``)."""
    from . import FULL  # the package's configuration, for fields an older header lacks

    path = Path(out_dir) / "model.eqx"
    if not path.exists():
        raise FileNotFoundError(f"romera2018: no saved model at {path}; run "
                                "`physnn run romera2018 --out DIR` first")
    with open(path, "rb") as fh:
        try:
            header = json.loads(fh.readline())
        except ValueError as e:
            raise pn.checkpoint.CheckpointError(f"romera2018: {path} has no readable header: {e}") from e
    saved = header["config"]
    cfg = dataclasses.replace(FULL, **{k: saved[k] for k in MODEL_KEYS if k in saved})
    options = {k: saved[k] for k in MODEL_OPTIONS if k in saved}
    like = initial_model(np.array([[300.0, 1000.0], [900.0, 3000.0]]), cfg, header["mode"], **options)
    model, _ = pn.checkpoint.load_checkpoint(path, like)
    return model


def predict(model: VowelNetwork, f1_hz, f2_hz) -> np.ndarray:
    """Classify formant measurements (Hz); returns vowel codes (e.g. 'iy')."""
    f1, f2 = check_formants(f1_hz, f2_hz)
    x = np.stack([np.atleast_1d(f1), np.atleast_1d(f2)], -1).astype(np.float32)
    return np.asarray(ROMERA_VOWELS)[predict_formants(model, x)]
