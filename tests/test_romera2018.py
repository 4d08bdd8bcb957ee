"""romera2018: the quick run ends to end, beats chance by far, resumes after an interruption to
the same record and model, and the saved model classifies user formants with clear errors on
bad input (slow); the pieces of the protocol on small token sets (the rule, the gradient
training, the window fits, the measurements)."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.romera2018 as romera
import physnn as pn
from experiments.romera2018 import data as vdata
from experiments.romera2018 import gradient, measure, rule, windows
from experiments.romera2018 import model as M

EXPERIMENT = "romera2018"  # the name conftest's quick_run runs


@pytest.mark.slow
def test_quick_run_writes_results_and_figures(quick_run):
    out, _, _ = quick_run
    rec = json.loads((out / "results.json").read_text())
    assert rec["experiment"] == "romera2018" and rec["quick"] is True
    for fig in ("sync_map.png", "decision_regions.png", "confusion.png", "training_curves.png"):
        assert (out / fig).stat().st_size > 10_000
    m = rec["metrics"]
    # Far above chance (1/7) on held-out speakers; the full-run figures are in the README.
    assert m["test_accuracy_a"] > 0.5
    assert m["test_accuracy_b"] > 0.7
    assert m["digital_ceiling"] > 0.8
    assert 1.0 < m["energy_per_classification_nj"] < 100.0
    assert np.array(rec["confusion_test_b"]).sum() == 259  # every token tested once


@pytest.mark.slow
def test_saved_model_predicts_user_formants(quick_run):
    out, _, _ = quick_run
    model = romera.load_model(out)
    # typical female /iy/ (heed) and /ah/ (hod) formants
    labels = romera.predict(model, [440.0, 930.0], [2760.0, 1530.0])
    assert labels.tolist() == ["iy", "ah"]
    with pytest.raises(ValueError, match="f1_hz"):
        romera.predict(model, [float("nan")], [2000.0])
    with pytest.raises(ValueError, match="f2_hz"):
        romera.predict(model, [500.0], [-2000.0])


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_record_and_model(quick_run, interrupted_run_resumes,
                                                              tmp_path):
    """``physnn run romera2018 --quick`` stopped by Ctrl-C at step 7 (of 20) of fold 0's
    uncoupled readout (b), after that variant's rule had finished and fold 0's coupled variant
    had been checkpointed, then run again: it loads the coupled variant, the rule's final state
    and (b)'s checkpoint, trains (b) on from step 7, and ends with the record of an
    uninterrupted run and a byte-identical ``model.eqx``."""
    out, ref, _ = quick_run
    interrupted_run_resumes("romera2018", ref, stop_at=7, resumed=["fold0"],
                            owner="romera2018 train_gradient", loop_index=1)
    assert (tmp_path / "model.eqx").read_bytes() == (out / "model.eqx").read_bytes()


def test_load_model_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        romera.load_model(tmp_path)


@pytest.mark.slow
def test_folds_and_the_uncoupled_variant_share_one_compiled_step(monkeypatch):
    """Two training sets of different sizes padded to one count, coupled and uncoupled: the
    end-to-end step is traced once (the uncoupled variant masks the coupling gradient instead
    of changing what is trainable). Padding rows carry weight 0."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32), data.labels
    # a presentation length no other test uses, so that the step is traced afresh here
    cfg = dataclasses.replace(romera.QUICK, t1_ns=52.0, grad_steps=2, readout_steps=20)
    traces = []
    logits = gradient.logits

    def counting_logits(model, feats):
        traces.append(1)  # the step calls logits only while it is traced
        return logits(model, feats)

    monkeypatch.setattr(gradient, "logits", counting_logits)
    losses = {}
    for n, coupled, sigma in ((40, True, 0.0), (33, False, 0.0), (40, True, 0.1)):
        model = M.initial_model(x[:n], cfg, "linear", coupling=cfg.coupling if coupled else 0.0)
        trained, hist = gradient.train_gradient(model, x[:n], y[:n], cfg, train_coupling=coupled, n_pad=48,
                                           vtl_sigma=sigma)
        assert len(hist["loss"]) == 2 and np.all(np.isfinite(hist["loss"]))
        losses[(n, sigma)] = hist["loss"]
        if not coupled:
            assert np.all(np.asarray(trained.sto.coupling) == 0.0)
    assert len(traces) == 1  # the augmentation's spread is an argument, not a new compile
    # the augmentation reaches the step: the same tokens, perturbed, give another loss
    assert losses[(40, 0.1)][0] != losses[(40, 0.0)][0]
    with pytest.raises(ValueError, match="vtl_sigma = -0.1"):
        gradient.train_gradient(model, x[:40], y[:40], cfg, n_pad=48, vtl_sigma=-0.1)

    xp, yp, w = vdata.pad_tokens(x[:5], y[:5], n=8)
    assert xp.shape == (8, 2) and w.tolist() == [1] * 5 + [0] * 3
    with pytest.raises(ValueError, match="n=4"):
        vdata.pad_tokens(x[:5], n=4)


def test_formant_scale_spread_recovers_the_speakers_scale():
    """Synthetic speakers whose formants are the vowel means scaled by exp(0.05 z_k), with 1 %
    token noise: the estimate is 0.05. On the real training speakers it is a few per cent."""
    from physnn.tasks import load_romera

    rng = np.random.default_rng(0)
    means = rng.uniform([300.0, 900.0], [900.0, 2800.0], size=(7, 2))
    n_spk = 400
    scale = np.exp(0.05 * rng.standard_normal(n_spk))
    spk = np.repeat(np.arange(n_spk), 7)
    lab = np.tile(np.arange(7), n_spk)
    f = means[lab] * scale[spk, None] * np.exp(0.01 * rng.standard_normal((7 * n_spk, 2)))
    assert vdata.formant_scale_spread(f, lab, spk) == pytest.approx(0.05, rel=0.1)
    assert vdata.formant_scale_spread(means[lab], lab, spk) < 1e-6  # no speaker differences
    data = load_romera()
    assert 0.02 < vdata.formant_scale_spread(data.features, data.labels, data.speakers) < 0.06


@pytest.mark.slow
def test_pattern_rule_never_loses_training_recognition_and_checks_its_population():
    """The rule keeps a candidate only if it improves the training recognition, so its history is
    non-decreasing and ends at the recognition the trained currents and table give. Too small a
    population for the +-step moves is a clear error."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32), data.labels
    idx = np.arange(0, len(y), 3)  # 87 tokens, every vowel
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=3)
    model = M.initial_model(x[idx], cfg, "pattern")
    trained, hist = rule.train_pattern_rule(model, x[idx], y[idx], cfg)
    assert len(hist) == 4 and np.all(np.diff(hist) >= 0)
    assert np.all(np.asarray(trained.sto.current_ma) >= 1.05 * M.DEVICE["threshold_ma"])
    pred = measure.predict_formants(trained, x[idx])
    assert np.mean(pred == y[idx]) == pytest.approx(hist[-1])
    with pytest.raises(ValueError, match="rule_candidates=4"):
        rule.train_pattern_rule(model, x[idx], y[idx], dataclasses.replace(cfg, rule_candidates=4))


@pytest.mark.slow
def test_pattern_rule_with_speaker_copies_scores_tokens_and_copies():
    """With ``vtl_sigma`` the rule scores the tokens together with one copy of each, both formants
    scaled by one factor per token: its last score is the trained model's recognition of exactly
    that doubled set (the copies drawn again from the seed), not of the tokens alone. A negative
    spread is a clear error."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32), data.labels
    idx = np.arange(1, len(y), 4)
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=2)
    model = M.initial_model(x[idx], cfg, "pattern")
    sigma = 0.2  # large, so that the copies' patterns differ from the tokens'
    trained, hist = rule.train_pattern_rule(model, x[idx], y[idx], cfg, vtl_sigma=sigma)
    z = np.random.default_rng(cfg.seed).standard_normal((len(idx), 1))
    copies = x[idx] * np.exp(sigma * z).astype(np.float32)
    assert np.all(copies[:, 1] / copies[:, 0] == pytest.approx(x[idx, 1] / x[idx, 0], rel=1e-5))
    pred = measure.predict_formants(trained, np.concatenate([x[idx], copies]))
    assert np.mean(pred == np.r_[y[idx], y[idx]]) == pytest.approx(hist[-1])
    assert np.mean(pred[: len(idx)] == y[idx]) != pytest.approx(hist[-1])
    with pytest.raises(ValueError, match="vtl_sigma = -0.1"):
        rule.train_pattern_rule(model, x[idx], y[idx], cfg, vtl_sigma=-0.1)


def test_loso_table_accuracy_classifies_each_speaker_by_the_others_table():
    """A pattern that only one speaker shows is recognised by the training table but not by the
    other speakers' table, which falls back to their majority; every shared pattern still counts."""
    pats = np.array([0, 6, 0, 6, 0, 6, 12])  # patterns (jA, jB) = (0, 0), (1, 1), (2, 2)
    labs = np.array([0, 1, 0, 1, 0, 1, 2])
    spk = np.array(["a", "a", "b", "b", "c", "c", "c"])
    assert windows.table_accuracy(pats, labs) == 1.0
    assert rule.loso_table_accuracy(pats, labs, spk) == pytest.approx(6 / 7)
    # a pattern shared by two speakers carries over
    assert rule.loso_table_accuracy(np.append(pats, 12), np.append(labs, 2), np.append(spk, "a")) == 1.0


@pytest.mark.slow
def test_pattern_rule_with_the_loso_objective():
    """With ``rule_objective="loso"`` the rule keeps the candidate whose table carries best to a
    left-out speaker, so it never ends below the starting layout on that score; its history is
    still the training recognition of the kept currents. Missing speakers and an unknown
    objective are clear errors."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y, spk = data.features.astype(np.float32), data.labels, np.asarray(data.speakers)
    idx = np.arange(2, len(y), 3)
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=2)
    model = M.initial_model(x[idx], cfg, "pattern")
    trained, hist = rule.train_pattern_rule(model, x[idx], y[idx], cfg, speakers=spk[idx],
                                             rule_objective="loso")
    xp = jnp.asarray(vdata.pad_tokens(x[idx])[0])  # measured as predict_formants measures
    pats = {name: np.asarray(measure.present_patterns(m, xp))[: len(idx)]
            for name, m in (("start", model), ("trained", trained))}
    assert (rule.loso_table_accuracy(pats["trained"], y[idx], spk[idx])
            >= rule.loso_table_accuracy(pats["start"], y[idx], spk[idx]))
    assert np.mean(measure.predict_formants(trained, x[idx]) == y[idx]) == pytest.approx(hist[-1])
    with pytest.raises(ValueError, match="needs speakers"):
        rule.train_pattern_rule(model, x[idx], y[idx], cfg, rule_objective="loso")
    with pytest.raises(ValueError, match="rule_objective='best'"):
        rule.train_pattern_rule(model, x[idx], y[idx], cfg, rule_objective="best")


@pytest.mark.slow
def test_presentation_is_converged_in_the_step():
    """The experiment's 1 ns step: halving it changes none of the 259 tokens' synchronisation
    patterns and moves the features of readout (b) by less than 1e-3, while a 4 ns step moves
    them measurably."""
    from physnn.tasks import load_romera

    x = jnp.asarray(vdata.pad_tokens(load_romera().features.astype(np.float32))[0])
    model = M.initial_model(np.asarray(x), romera.FULL, "pattern")
    assert model.dt_ns == 1.0
    # dt_ns is a static field: a model with another step is a new dataclass instance
    out = {dt: measure.present(dataclasses.replace(model, dt_ns=dt), x) for dt in (0.5, 1.0, 4.0)}
    f_half, p_half = (np.asarray(v) for v in out[0.5])
    f_one, p_one = (np.asarray(v) for v in out[1.0])
    f_four, _ = (np.asarray(v) for v in out[4.0])
    assert np.array_equal(p_one[:259], p_half[:259])
    assert len(np.unique(p_one[:259])) > 3  # the patterns are not trivially all "none"
    err_one, err_four = np.abs(f_one - f_half).max(), np.abs(f_four - f_half).max()
    assert err_one < 1e-3  # measured 2.9e-4 (the 4 ns step: 0.7)
    assert err_four > 10 * err_one


@pytest.mark.slow
def test_lock_criterion_reaches_the_pattern_and_a_looser_one_locks_more():
    """``lock_slip_cycles`` is the phase slip over the window below which an oscillator counts as
    locked: a looser criterion can only add locks, so fewer tones are left with no oscillator."""
    from physnn.tasks import load_romera

    data = load_romera()
    x = data.features.astype(np.float32)[::8]  # 33 tokens
    none = {}
    for slip in (0.25, 1.0):
        cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, lock_slip_cycles=slip)
        model = M.initial_model(x, cfg, "pattern")
        assert model.lock_slip_cycles == slip
        _, pattern = measure.present(model, jnp.asarray(x))
        ja, jb = np.divmod(np.asarray(pattern), M.N_OSC + 1)
        none[slip] = int(np.sum(ja == M.NONE) + np.sum(jb == M.NONE))
    assert none[1.0] < none[0.25]


def _window_tokens():
    """Tokens that sit in four ideal windows: seven classes, one per (tone A, tone B) window pair.
    Returns the window centres, the tokens' normalised tone frequencies u (n, 2), their formants
    x (n, 2) in Hz (a linear map of u) and their labels."""
    rng = np.random.default_rng(0)
    c = np.array([0.125, 0.375, 0.625, 0.875])
    pairs = [(0, 1), (0, 3), (1, 2), (2, 0), (2, 3), (3, 1), (3, 3)]
    lab = np.repeat(np.arange(7), 20)
    u = c[np.array(pairs)[lab]] + rng.normal(0.0, 0.01, (len(lab), 2))
    x = np.stack([300.0 + 700.0 * u[:, 0], 900.0 + 2000.0 * u[:, 1]], axis=1)
    return c, u, x, lab


def test_ideal_window_fit_separates_window_classes_in_the_input_maps_units():
    """Tokens that sit in four ideal windows (seven classes, one per (tone A, tone B) window pair):
    the fit recognises all of them, with the min-max map and with a free map, and its map, applied
    through ``VowelNetwork.tones``, gives the same patterns (the scripts fit in the model's units)."""
    c, u, x, lab = _window_tokens()
    for free in (False, True):
        cen, w, s, o = windows.fit_window_map(x, lab, np.random.default_rng(1), free_map=free,
                                          restarts=20)
        m = M.initial_model(x, romera.QUICK, "pattern")
        m = eqx.tree_at(lambda m: (m.enc_scale, m.enc_offset), m, (jnp.asarray(s), jnp.asarray(o)))
        lo, hi = M.BAND_GHZ
        u_model = (np.asarray(m.tones(jnp.asarray(x, jnp.float32)).freqs) - lo) / (hi - lo)
        assert windows.table_accuracy(windows.window_patterns(u_model, cen, w), lab) == 1.0, free
        if not free:
            assert np.all(s == 1.0) and np.all(o == 0.0)
    # a window too narrow for the token spread recognises fewer
    assert windows.table_accuracy(windows.window_patterns(u, c, 0.001), lab) < 1.0


def test_window_fit_can_hold_the_width_and_window_layout_places_the_oscillators():
    """``fit_window_map(width=...)`` keeps the half-width it is given, and ``window_layout`` turns
    such a fit into free-running frequencies whose windows, at the device's half-width, still
    recognise tokens that sit in four windows. A half-width outside (0, 0.5) is a clear error."""
    _, _, x, lab = _window_tokens()
    _, w, _, _ = windows.fit_window_map(x, lab, np.random.default_rng(1), free_map=False, restarts=5,
                                    width=0.07)
    assert w == 0.07
    cfg = dataclasses.replace(romera.QUICK, rule_window_halfwidth=0.1, rule_window_fit_map=False)
    layout = windows.window_layout(x, lab, cfg)
    assert layout.shape == (1, M.N_OSC)
    lo, hi = M.BAND_GHZ
    m = M.initial_model(x, cfg, "pattern")
    u_model = (np.asarray(m.tones(jnp.asarray(x, jnp.float32)).freqs) - lo) / (hi - lo)
    assert windows.table_accuracy(windows.window_patterns(u_model, (layout[0] - lo) / (hi - lo), 0.1),
                               lab) == 1.0
    with pytest.raises(ValueError, match="rule_window_halfwidth = 0.7"):
        windows.window_layout(x, lab, dataclasses.replace(cfg, rule_window_halfwidth=0.7))


def test_window_fit_can_keep_the_centres_apart():
    """``min_separation`` keeps the fitted centres ordered and at least that far apart; the tokens
    of four windows 0.25 apart are still all recognised with a separation of 0.2, and a
    separation outside [0, 1/3) is a clear error (in ``fit_window_map`` and in ``window_layout``)."""
    _, _, x, lab = _window_tokens()
    free_fits = [windows.fit_window_map(x, lab, np.random.default_rng(k), free_map=False, restarts=5,
                                    width=0.1)[0] for k in range(3)]
    # without the constraint the search is free to leave centres closer than 0.2 (or unordered)
    assert any(np.any(np.diff(c) < 0.2) for c in free_fits)
    for k in range(3):
        cen, w, _, _ = windows.fit_window_map(x, lab, np.random.default_rng(k), free_map=False,
                                          restarts=5, width=0.1, min_separation=0.2)
        assert np.all(np.diff(cen) >= 0.2), cen
        u = (x - x.min(0)) / (x.max(0) - x.min(0))
        assert windows.table_accuracy(windows.window_patterns(u, cen, w), lab) == 1.0
    with pytest.raises(ValueError, match="min_separation = 0.4; expected"):
        windows.fit_window_map(x, lab, np.random.default_rng(0), free_map=False, restarts=2,
                           width=0.1, min_separation=0.4)
    cfg = dataclasses.replace(romera.QUICK, rule_window_halfwidth=0.1, rule_window_fit_map=False,
                              rule_window_min_separation=0.2)
    layout = windows.window_layout(x, lab, cfg)
    assert np.all(np.diff(layout[0]) >= 0.2 * (M.BAND_GHZ[1] - M.BAND_GHZ[0]) - 1e-12)
    with pytest.raises(ValueError, match="rule_window_min_separation = -0.1"):
        windows.window_layout(x, lab, dataclasses.replace(cfg, rule_window_min_separation=-0.1))


@pytest.mark.slow
def test_pattern_rule_starts_from_the_layouts_it_is_given():
    """``init_layouts`` take the places of the first random layouts of the rule's first
    population: with every random layout replaced and the model's own oscillators far above the
    band (nothing locks), the rule (no iterations) ends at the given layout's currents. More
    layouts than the population holds is a clear error."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32)[::6], data.labels[::6]
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=0)
    model = M.initial_model(x, cfg, "pattern")
    far = model.sto.current_for_frequency_ma(jnp.full(M.N_OSC, 0.40))  # 48 MHz above the band
    model = eqx.tree_at(lambda m: m.sto.current_ma, model, far)
    k = cfg.rule_candidates
    layout = np.array([0.318, 0.326, 0.334, 0.345])
    trained, hist = rule.train_pattern_rule(model, x, y, cfg, init_layouts=np.tile(layout, (k - 1, 1)))
    given = np.asarray(model.sto.current_for_frequency_ma(jnp.asarray(layout)))
    got = np.asarray(trained.sto.current_ma)
    assert np.allclose(got, np.maximum(given, 1.05 * M.DEVICE["threshold_ma"]), rtol=1e-6)
    assert len(hist) == 1 and hist[0] > 0.5
    with pytest.raises(ValueError, match="init_layouts has shape"):
        rule.train_pattern_rule(model, x, y, cfg, init_layouts=np.tile(layout, (k, 1)))


@pytest.mark.slow
def test_pattern_rule_window_start_from_the_config(monkeypatch):
    """``rule_window_init`` in the config (the experiment's setting) starts the rule from
    ``window_start`` of the plain training tokens (not their speaker copies): the same currents,
    table and history as passing that layout explicitly with the option off, which does not fit
    a layout at all. With ``rule_window_fit_map`` the rule also runs with the input map of that
    fit, and the returned model keeps it. A bad separation in the config is a clear error naming
    it."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32)[::5], data.labels[::5]
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=1)
    assert cfg.rule_window_init and cfg.rule_window_fit_map
    fit = windows.window_start
    calls = []

    def spy(xs, ys, config):
        calls.append(len(xs))
        return fit(xs, ys, config)

    monkeypatch.setattr(rule, "window_start", spy)
    model = M.initial_model(x, cfg, "pattern")
    off = dataclasses.replace(cfg, rule_window_init=False, rule_window_fit_map=False)
    with pytest.raises(ValueError, match="rule_window_fit_map = True with rule_window_init = False"):
        rule.train_pattern_rule(model, x, y, dataclasses.replace(off, rule_window_fit_map=True))
    for fit_map in (False, True):
        calls.clear()
        on = dataclasses.replace(cfg, rule_window_fit_map=fit_map)
        a, ha = rule.train_pattern_rule(model, x, y, on, vtl_sigma=0.04)
        assert calls == [len(x)]
        rule.train_pattern_rule(model, x, y, off, vtl_sigma=0.04)
        assert calls == [len(x)]
        layout, scale, offset = fit(x, y, on)
        start = M.with_input_map(model, scale, offset) if fit_map else model
        b, hb = rule.train_pattern_rule(start, x, y, off, vtl_sigma=0.04, init_layouts=layout)
        assert np.array_equal(np.asarray(a.sto.current_ma), np.asarray(b.sto.current_ma))
        assert np.array_equal(np.asarray(a.table), np.asarray(b.table)) and ha == hb
        want = (scale, offset) if fit_map else (np.ones(2), np.zeros(2))
        assert np.allclose(np.asarray(a.enc_scale), want[0]) and np.allclose(a.enc_offset, want[1])
    assert not np.allclose(scale, 1.0)  # the fitted map is not the min-max one
    with pytest.raises(ValueError, match="rule_window_min_separation = 0.4"):
        rule.train_pattern_rule(model, x, y, dataclasses.replace(cfg, rule_window_min_separation=0.4))


@pytest.mark.slow
def test_window_start_fits_the_input_map_with_the_windows():
    """``window_start`` without ``rule_window_fit_map`` is ``window_layout`` with the min-max map
    (scale 1, offset 0); with it, the map fitted together with the separated windows of the
    device's half-width recognises the training tokens at least as well as the min-max map with
    its own windows, and ``window_layout`` returns that fit's layout. A non-boolean setting is a
    clear error naming it."""
    from physnn.tasks import load_romera

    data = load_romera()
    x, y = data.features.astype(np.float32)[::2], data.labels[::2]
    lo, hi = M.BAND_GHZ
    z = (x - x.min(0)) / (x.max(0) - x.min(0))
    acc = {}
    for fit_map in (False, True):
        cfg = dataclasses.replace(romera.FULL, rule_window_fit_map=fit_map)
        layout, scale, offset = windows.window_start(x, y, cfg)
        assert np.array_equal(layout, windows.window_layout(x, y, cfg))
        c = (layout[0] - lo) / (hi - lo)
        assert np.all(np.diff(c) >= cfg.rule_window_min_separation - 1e-9)
        u = scale * (z - 0.5) + 0.5 + offset
        acc[fit_map] = windows.table_accuracy(
            windows.window_patterns(u, c, cfg.rule_window_halfwidth), y)
        if not fit_map:
            assert np.array_equal(scale, np.ones(2)) and np.array_equal(offset, np.zeros(2))
    assert acc[True] >= acc[False] > 0.8, acc
    with pytest.raises(ValueError, match="rule_window_fit_map = 'yes'"):
        windows.window_start(x, y, dataclasses.replace(romera.FULL, rule_window_fit_map="yes"))


@pytest.mark.slow
def test_lock_phase_readout_adds_the_lock_in_phasor_and_keeps_the_rest():
    """``lock_phase=True``: the 16 observables of the committed readout, bit for bit, then the
    real and imaginary parts of the lock-in phasor, whose modulus is the locking measure; a
    locked oscillator's phase lag moves with the formant where its |Z| stays at 1."""
    from physnn.devices.spintronic import locking_phasor
    from physnn.tasks import load_romera

    x = jnp.asarray(load_romera().features.astype(np.float32)[:12])
    plain = M.initial_model(x, romera.QUICK, "linear")
    phase = M.initial_model(x, romera.QUICK, "linear", lock_phase=True)
    assert phase.weights.shape == (M.n_features(lock_phase=True), 7) == (32, 7)
    f_plain, f_phase = measure.present_features(plain, x), measure.present_features(phase, x)
    assert f_phase.shape == (12, 32)
    np.testing.assert_array_equal(f_phase[:, :16], f_plain)
    z = np.asarray(f_phase[:, 16:24]) + 1j * np.asarray(f_phase[:, 24:])
    np.testing.assert_allclose(np.abs(z), f_plain[:, 8:], rtol=1e-5, atol=1e-6)
    traj, _, sto, tones = measure.solve(phase, x, None, None)
    want = locking_phasor(traj, sto, tones, t_start=phase.t1_ns / 2, taper="hann")
    np.testing.assert_allclose(z, np.asarray(want).reshape(12, 8), rtol=1e-5, atol=1e-6)
    # tones at -0.3 and +0.3 of one oscillator's locking half-width (in the network, the other
    # tone far away): locked both times, and the lag moves by Adler's 2 arcsin(0.3)
    band = np.asarray(phase.sto.free_running_frequency_ghz())[1]
    half = float(phase.sto.locking_range_ghz(phase.rf_amp_ma)[1])
    fa = band + np.array([-0.3, 0.3]) * half
    probe = pn.Tones(jnp.stack([jnp.asarray(fa), jnp.full(2, 0.35)], -1), amps=phase.rf_amp_ma)
    tr = pn.simulate(phase.sto, probe, t1=phase.t1_ns, dt=phase.dt_ns,
                     saveat=np.linspace(0.0, phase.t1_ns, 101))
    zz = np.asarray(locking_phasor(tr, phase.sto, probe, t_start=phase.t1_ns / 2))[:, 1, 0]
    assert np.all(np.abs(zz) > 0.95)
    np.testing.assert_allclose(np.angle(zz[1] / zz[0]), -2 * np.arcsin(0.3), rtol=0.1)


@pytest.mark.slow
def test_a_compiled_step_solves_as_the_evaluation_does():
    """Inside a compiled step the device's temperature is traced, so a solve given a key could not
    see that it is 0 K and took the SDE solver (Heun), 2nd order where the evaluation's ODE solver
    is 5th: features off by up to 0.39 at the 1 ns step. The model's static ``noisy`` decides
    instead: compiled and eager features agree at 0 K, and a temperature that disagrees with it is
    an error."""
    from physnn.tasks import load_romera

    x = jnp.asarray(load_romera().features.astype(np.float32))
    m = M.initial_model(x, romera.FULL, "linear")
    assert m.noisy is False
    eager = np.asarray(measure.present_features(m, x))
    compiled = np.asarray(eqx.filter_jit(measure.present_features)(m, x, key=jax.random.key(3)))
    np.testing.assert_allclose(compiled, eager, atol=2e-3)
    hot = M.initial_model(x, dataclasses.replace(romera.FULL, temperature_k=300.0), "linear")
    assert hot.noisy is True
    assert not np.allclose(np.asarray(measure.present_features(hot, x[:16], key=jax.random.key(3))),
                           eager[:16], atol=1e-3)
    warm_sto = eqx.tree_at(lambda d: d.temperature_k, m.sto, jnp.full(4, 300.0))
    with pytest.raises(ValueError, match=r"temperature_k=.*300.*noisy=False"):
        measure.present_features(m, x[:4], sto=warm_sto)
