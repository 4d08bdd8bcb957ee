"""The cross-validation of romera2018: on every speaker-independent fold, readouts (a) and (b)
trained on the coupled network and on the uncoupled one, the digital baselines, and the scores
of all of them on the fold's training and test speakers."""

from __future__ import annotations

import numpy as np

from .baselines import mlp_fit_predict, qda_fit_predict
from .data import formant_scale_spread
from .gradient import train_gradient
from .measure import predict_formants
from .model import initial_model, with_input_map
from .rule import train_pattern_rule
from .windows import window_start

#: the scored methods: the two readouts, coupled and uncoupled, and the digital baselines
METHODS = ("a", "b", "a_uncoupled", "b_uncoupled", "qda", "mlp")


class Scores:
    """Train and test accuracies per method and fold, the confusion matrix of (b) on the test
    tokens of every fold, and the training curves of the coupled readouts."""

    def __init__(self):
        self.acc = {k: {"train": [], "test": []} for k in METHODS}
        self.confusion = np.zeros((7, 7), int)
        self.curves = {"a": [], "b": []}

    def add(self, method, pred_tr, pred_te, y, tr, te):
        self.acc[method]["train"].append(float(np.mean(pred_tr == y[tr])))
        self.acc[method]["test"].append(float(np.mean(pred_te == y[te])))

    def metrics(self) -> dict:
        """Mean train and test accuracy and the test accuracy's spread over folds, per method,
        and the digital ceiling (the better baseline) with (b)'s distance to it."""
        m = {}
        for k, v in self.acc.items():
            m[f"train_accuracy_{k}"] = float(np.mean(v["train"]))
            m[f"test_accuracy_{k}"] = float(np.mean(v["test"]))
            m[f"test_accuracy_{k}_std"] = float(np.std(v["test"]))
        ceiling = max(m["test_accuracy_qda"], m["test_accuracy_mlp"])
        m["digital_ceiling"] = ceiling
        m["b_minus_ceiling_points"] = 100 * (m["test_accuracy_b"] - ceiling)
        return m


def train_readouts(x, y, tr, config, coupled, n_pad, sigma_a, sigma_b, start, ckpt, unit, bar):
    """Readouts (a) and (b) of one fold and variant, trained on the tokens ``tr``, and every
    token's class by each: ``(ma, mb, record)`` with ``record = {hist_a, hist_b, preds}``. A
    variant finished before an interruption is loaded from ``ckpt``; the rule's window start
    ``start()`` (layout and input map) is fitted only when a rule is trained."""
    c = config.coupling if coupled else 0.0
    m0 = initial_model(x[tr], config, "pattern", coupling=c)
    mb0 = initial_model(x[tr], config, "linear", coupling=c)
    done = ckpt.load(unit, (m0, mb0))
    if done is not None:  # this fold and variant finished before an interruption
        (ma, mb), rec = done
        bar.update(config.rule_iters + config.grad_steps)
        return ma, mb, rec
    layout = None
    if config.rule_window_init:
        layout, scale, offset = start()
        if config.rule_window_fit_map:
            m0 = with_input_map(m0, scale, offset)
    ma, hist_a = train_pattern_rule(m0, x[tr], y[tr], config, progress=bar, n_pad=n_pad,
                                    vtl_sigma=sigma_a, init_layouts=layout,
                                    checkpoint=ckpt.path(unit + "_a_progress"))
    mb, hist_b = train_gradient(mb0, x[tr], y[tr], config, train_coupling=coupled, progress=bar,
                                n_pad=n_pad, vtl_sigma=sigma_b,
                                checkpoint=ckpt.path(unit + "_b_progress"))
    preds = {name: predict_formants(m, x)  # every token in one solve, one shape for all
             for name, m in (("a", ma), ("b", mb))}
    rec = {"hist_a": hist_a, "hist_b": hist_b,
           "preds": {k: np.asarray(v).tolist() for k, v in preds.items()}}
    ckpt.save(unit, (ma, mb), rec)
    return ma, mb, rec


def run_fold(f, tr, te, x, y, speakers, config, n_pad, ckpt, bar, scores: Scores):
    """Fold ``f``: both readouts on the coupled and the uncoupled network, then the baselines,
    all scored into ``scores``. Returns the coupled models ``(ma, mb)`` and the speaker-scale
    spread (b) was augmented with."""
    s_tr = formant_scale_spread(x[tr], y[tr], speakers[tr])  # from the training speakers only
    sigma_b = s_tr if config.vtl_augment else 0.0  # (b)'s augmentation and (a)'s copies share it
    sigma_a = s_tr if config.rule_augment else 0.0
    fitted = []

    def start():  # the rule's window start (and input map), fitted once for both rules of the fold
        if not fitted:
            fitted.append(window_start(x[tr], y[tr], config))
        return fitted[0]

    for coupled in (True, False):
        tag = "" if coupled else "_uncoupled"
        ma_, mb_, rec = train_readouts(x, y, tr, config, coupled, n_pad, sigma_a, sigma_b, start,
                                       ckpt, f"fold{f}{tag}", bar)
        for name in ("a", "b"):
            pred = np.asarray(rec["preds"][name])
            scores.add(name + tag, pred[tr], pred[te], y, tr, te)
            if coupled and name == "b":
                np.add.at(scores.confusion, (y[te], pred[te]), 1)
        if coupled:
            scores.curves["a"].append(rec["hist_a"])
            scores.curves["b"].append(rec["hist_b"])
            ma, mb = ma_, mb_
    for name, fn in (("qda", qda_fit_predict),
                     ("mlp", lambda a, b, c: mlp_fit_predict(a, b, c, config.mlp_steps, config.seed))):
        pred = fn(x[tr], y[tr], np.concatenate([x[tr], x[te]]))  # one fit, both sides
        scores.add(name, pred[:len(tr)], pred[len(tr):], y, tr, te)
    return ma, mb, sigma_b
