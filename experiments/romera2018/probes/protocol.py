"""The protocol the romera2018 probes share: the committed folds, the selection on held-out
training speakers, the outer-fold scores, and the command line of a probe that compares named
variants. Imported by ``amplitude_probe.py``, ``augment_probe.py``,
``coupling_probe.py``, ``loso_probe.py``, ``map_probe.py``,
``phase_probe.py``, ``rule_probe.py``, ``window_init_probe.py``,
``windows_probe.py`` and ``seed_spread.py`` (not a script itself)."""

import dataclasses
import time

import numpy as np

import experiments.romera2018 as romera
from experiments.romera2018 import data as vdata
from experiments.romera2018 import gradient, measure
from experiments.romera2018 import model as M
from physnn.tasks import load_romera, speaker_folds

PROBES = "experiments.romera2018.probes"


def setup():
    """(FULL config, formants x, labels y, speakers, the committed folds, the padded fold size).

    The config's rule starts from random layouts only (``rule_window_init`` off) and the
    window layouts it may be given belong to the min-max input map (``rule_window_fit_map``
    off): the probes compare their variants with the rule as committed before the separated
    window start (``window_init_probe.py``), and their recorded figures were measured
    that way."""
    cfg = dataclasses.replace(romera.FULL, rule_window_init=False, rule_window_fit_map=False)
    data = load_romera()
    x, y, spk = data.features.astype(np.float32), data.labels, np.asarray(data.speakers)
    folds = speaker_folds(data.speakers, n_folds=cfg.n_folds, seed=cfg.seed)
    return cfg, x, y, spk, folds, max(len(tr) for tr, _ in folds)


def select(variants, x, y, spk, folds, seed, inner=0):
    """Score each variant (name -> ``train(token indices) -> model``) on training speakers only:
    in each outer fold one fifth of the training speakers (``speaker_folds(..., seed)[inner]``)
    is held out, the variant trains on the rest, and the held-out tokens are counted. Prints and
    returns ``(hits per variant, number of held-out tokens)``.

    Every recorded selection used ``inner=0``. ``inner=1``-``4`` hold out the other fifths of
    the same partition: speakers that no selection has scored, for a fresh check of a choice
    already made on ``inner=0``."""
    hits, n_val, t = {name: 0 for name in variants}, 0, time.time()
    for tr, _ in folds:
        itr, iva = speaker_folds(spk[tr], n_folds=5, seed=seed)[inner]
        itr, iva = tr[itr], tr[iva]
        for name, train in variants.items():
            hits[name] += int(np.sum(measure.predict_formants(train(itr), x)[iva] == y[iva]))
        n_val += len(iva)
        print(f"  outer fold: inner validation hits so far {hits} of {n_val} "
              f"({time.time() - t:.0f} s)", flush=True)
    print(f"select (inner fold {inner}): inner validation accuracy, " + ", ".join(
        f"{name} {h / n_val:.3f}" for name, h in hits.items())
        + f" ({n_val} tokens of held-out training speakers)")
    return hits, n_val


def select_every_inner(variants, x, y, spk, folds, seed, reference, challenger, margin):
    """:func:`select` on each of the five inner folds in turn (every training speaker held out
    once), the hits summed; prints the totals and the decision of the rule fixed before the run:
    adopt ``challenger`` over ``reference`` only with at least ``margin`` more held-out tokens.
    Returns ``(total hits per variant, number of held-out tokens)``."""
    total, n = {k: 0 for k in variants}, 0
    for inner in range(5):
        hits, n_val = select(variants, x, y, spk, folds, seed, inner)
        for k in variants:
            total[k] += hits[k]
        n += n_val
    print("all inner folds: " + ", ".join(f"{k} {h} of {n} ({h / n:.3f})" for k, h in total.items()))
    gain = total[challenger] - total[reference]
    print(f"{challenger} - {reference}: {gain:+d} tokens; rule: adopt if >= +{margin} -> "
          + ("adopt" if gain >= margin else "keep the committed readout"), flush=True)
    return total, n


def readout_b_probe_main(argv, script, key, variants, margin=20):
    """The command line of a probe that trains readout (b) exactly as the experiment does, with
    one configuration key set per variant (``variants``: name -> value of ``key``; the first is
    the committed one, the second the challenger). ``select`` runs :func:`select_every_inner`
    with the rule: adopt the challenger only with at least ``margin`` more held-out tokens; a
    variant's name runs it on the outer folds (:func:`cross_validate`)."""
    cfg, x, y, spk, folds, n_pad = setup()

    def train(idx, name):
        # a configuration field, or an option of the model (lock_phase, feature_windows)
        if key in {f.name for f in dataclasses.fields(cfg)}:
            c, options = dataclasses.replace(cfg, **{key: variants[name]}), {}
        else:
            c, options = cfg, {key: variants[name]}
        sigma = vdata.formant_scale_spread(x[idx], y[idx], spk[idx])
        return gradient.train_gradient(M.initial_model(x[idx], c, "linear", **options), x[idx],
                                       y[idx], c, n_pad=n_pad, vtl_sigma=sigma)[0]

    reference, challenger = list(variants)[:2]
    if argv == ["select"]:
        select_every_inner({k: (lambda idx, k=k: train(idx, k)) for k in variants}, x, y, spk, folds,
                           cfg.seed, reference=reference, challenger=challenger, margin=margin)
        return
    if len(argv) != 1 or argv[0] not in variants:
        raise SystemExit(f"usage: python -m {PROBES}.{script.removesuffix('.py')} select | "
                         + " | ".join(variants))
    cross_validate(lambda idx: train(idx, argv[0]), x, y, folds, argv[0])


def cross_validate(train, x, y, folds, label, describe=None):
    """Train on each fold's training speakers (``train(token indices) -> model``) and score both
    sides; prints each fold (with ``describe(model)``, if given) and the means. Returns the train
    and test accuracies per fold."""
    tr_acc, te_acc, t = [], [], time.time()
    for tr, te in folds:
        m = train(tr)
        pred = measure.predict_formants(m, x)
        tr_acc.append(float(np.mean(pred[tr] == y[tr])))
        te_acc.append(float(np.mean(pred[te] == y[te])))
        print(f"  fold: {describe(m) + ', ' if describe else ''}train {tr_acc[-1]:.3f}, "
              f"test {te_acc[-1]:.3f} ({time.time() - t:.0f} s)", flush=True)
    print(f"{label}: train {np.mean(tr_acc):.3f}, test {np.mean(te_acc):.3f} "
          f"(folds {np.round(te_acc, 3).tolist()})", flush=True)
    return tr_acc, te_acc


def variant_main(argv, script, variants, train, cfg, data, describe=None, known_reference=False):
    """The command line of a probe: ``select`` scores every variant on held-out training speakers
    (:func:`select`); a variant's name runs it on the outer folds (:func:`cross_validate`).
    ``train(idx, kind) -> model``; ``data`` is ``(x, y, speakers, folds)`` of :func:`setup`.

    With ``known_reference``, ``variants[0]`` is the committed rule, whose deterministic
    ``select`` score the probe's docstring quotes: ``select`` skips it and ``select all`` runs it
    too. ``select NAME [NAME ...]`` scores only the named variants. ``select --inner K ...``
    holds out inner fold K instead of 0 (:func:`select`)."""
    variants = tuple(variants)
    usage = ("select | select all" if known_reference else "select") + " | select NAME [NAME ...]"
    usage = usage.replace("select", "select [--inner K]")
    inner = 0
    if argv[:2] == ["select", "--inner"]:
        if len(argv) < 3 or argv[2] not in ("0", "1", "2", "3", "4"):
            raise SystemExit(f"romera_protocol: --inner = {argv[2] if len(argv) > 2 else None!r}; "
                             "expected an inner fold 0-4")
        inner, argv = int(argv[2]), ["select"] + argv[3:]
    if argv == ["select", "all"] and known_reference:
        argv, chosen = ["select"], variants
    elif len(argv) > 1 and argv[0] == "select" and all(a in variants for a in argv[1:]):
        argv, chosen = ["select"], tuple(argv[1:])
    else:
        chosen = variants[1:] if known_reference else variants
    if len(argv) != 1 or argv[0] not in ("select",) + variants:
        raise SystemExit(f"usage: python -m {PROBES}.{script.removesuffix('.py')} {usage} | "
                         + " | ".join(variants))
    x, y, spk, folds = data
    if argv[0] == "select":
        select({k: (lambda idx, k=k: train(idx, k)) for k in chosen}, x, y, spk, folds, cfg.seed,
               inner)
        return
    cross_validate(lambda idx: train(idx, argv[0]), x, y, folds, argv[0], describe)
