"""torrejon2017: one current-driven spin-torque oscillator as a time-multiplexed reservoir. The
node map against simulate, the energy against the device's own power, the co-design gradient
against finite differences (fast); the quick run end to end and its resume (slow). The device
itself: tests/test_sto_current.py."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.torrejon2017 as tj
import physnn as pn
from experiments.torrejon2017 import codesign, reservoir

EXPERIMENT = "torrejon2017"  # for the quick_run fixture (conftest.py)
CFG = dataclasses.replace(tj.QUICK, n_nodes=8, n_frames=3)


def inputs(n=4, frames=3, channels=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, frames, channels)).astype(np.float32)


def test_the_node_map_is_the_oscillator_simulated_with_a_masked_current():
    """map_states (one exact logistic step per node) against physnn.simulate of the full
    complex oscillator driven by physnn.Masked, noise-free, at two DC currents (one below
    threshold for part of the nodes)."""
    x, mask = inputs(), reservoir.make_mask(8, 5, 0)
    for i_dc, di in ((6.0, 1.0), (5.2, 2.0)):
        dev = reservoir.oscillator(CFG, i_dc, di)
        check = reservoir.continuous_check(dev, x, mask, 40.0, substeps=10)
        assert check["max_abs_diff"] < 1e-4  # measured 1e-5 and below at 10 steps per node
        assert check["amplitude_scale"] > 0.1


def test_mask_and_node_inputs():
    m = reservoir.make_mask(16, 4, 3)
    assert m.shape == (16, 4) and set(np.unique(np.abs(m))) == {np.float32(0.5)}
    np.testing.assert_array_equal(m, reservoir.make_mask(16, 4, 3))  # same seed, same mask
    x = inputs(2, 3, 4)
    j = np.asarray(reservoir.node_inputs(jnp.asarray(x), jnp.asarray(m)))
    assert j.shape == (2, 3 * 16)
    np.testing.assert_allclose(j[1, 16:32], m @ x[1, 1], rtol=1e-6)


def test_energy_per_word_is_the_integral_of_the_devices_power():
    """R theta sum I^2 against the time integral of STONetwork.power along a simulate run
    (the power is constant over each node, so one sample per node integrates it exactly)."""
    x, mask = inputs(2), reservoir.make_mask(8, 5, 1)
    dev = reservoir.oscillator(CFG, 6.0, 1.5)
    energy, power = reservoir.energy_per_word_j(dev, x, mask, 40.0, CFG.resistance_ohm)
    drive = pn.Masked(jnp.asarray(x), jnp.asarray(mask), theta=40.0)
    holds = x.shape[1] * 8
    # the middle of each node: its current
    ts = (np.arange(holds) + 0.5) * 40.0
    p = np.stack([np.asarray(dev.power(t, jnp.zeros((2, 2, 1)), drive(t))) for t in ts])
    want = np.mean(p.sum(0) * 40.0e-9)
    assert energy == pytest.approx(want, rel=1e-5)
    assert power == pytest.approx(want / (holds * 40.0e-9), rel=1e-5)


def test_codesign_gradient_matches_finite_differences():
    """d(loss)/d(I_dc, dI, one mask entry) through the ridge solve and the node map, float64."""
    with jax.enable_x64(True):
        x, mask = inputs(8, 3, 5).astype(np.float64), reservoir.make_mask(8, 5, 0).astype(np.float64)
        y = np.arange(8) % 10
        d0 = codesign.Design(jnp.asarray(mask), jnp.asarray(6.0), jnp.asarray(1.0))
        frame = float(reservoir.oscillator(CFG, 6.0, 1.0).frame_ghz)
        args = (jnp.asarray(x[:4]), jnp.asarray(y[:4]), jnp.asarray(x[4:]), jnp.asarray(y[4:]),
                CFG, frame)
        g = jax.grad(codesign._loss)(d0, *args)
        for name, get, bump in (
                ("current", lambda g: g.current_ma, lambda d, e: codesign.Design(
                    d.mask, d.current_ma + e, d.input_ma)),
                ("input", lambda g: g.input_ma, lambda d, e: codesign.Design(
                    d.mask, d.current_ma, d.input_ma + e)),
                ("mask[2,3]", lambda g: g.mask[2, 3], lambda d, e: codesign.Design(
                    d.mask.at[2, 3].add(e), d.current_ma, d.input_ma))):
            h = 1e-6
            fd = (codesign._loss(bump(d0, h), *args) - codesign._loss(bump(d0, -h), *args)) / (2 * h)
            assert float(get(g)) == pytest.approx(float(fd), rel=1e-5, abs=1e-9), name


def test_a_few_codesign_steps_lower_the_training_loss():
    x = inputs(40, 3, 5)
    y = np.arange(40) % 10
    cfg = dataclasses.replace(CFG, codesign_steps=15, codesign_batch=40, codesign_lr_mask=0.02)
    design, hist = codesign.train_design(cfg, x, y, np.ones(40, bool), reservoir.make_mask(8, 5, 0))
    assert len(hist) == 15 and np.all(np.isfinite(hist))
    assert np.mean(hist[-3:]) < np.mean(hist[:3])
    assert float(design.current_ma) > 0


# ------------------------------------------------------------------ the quick run (slow)

@pytest.fixture(scope="module")
def quick(quick_run):
    out, record, _ = quick_run
    return out, record


@pytest.mark.slow
def test_quick_run_record_and_figures(quick):
    out, record = quick
    saved = json.loads((out / "results.json").read_text())
    assert saved["experiment"] == "torrejon2017" and saved["quick"] is True
    assert "TI-46" in saved["dataset"] and any("TI-46" in n for n in saved["notes"])
    for fig in saved["figures"]:
        assert (out / fig).stat().st_size > 0
    m = record["metrics"]
    for fe in tj.QUICK.front_ends:
        for split in ("official", "speaker"):
            for system in ("oscillator", "front_end", "sequence"):
                assert 0.3 < m[f"accuracy_{split}_{system}_{fe}"] <= 1.0, (split, system, fe)
        # the oscillator adds to its front end on the official split, by more than its spread
        gain, std = m[f"gain_official_over_front_end_{fe}"], m[f"accuracy_official_oscillator_{fe}_std"]
        assert gain > max(2 * std, 0.02), (fe, gain, std)
    acc = np.asarray(record["bias_map"]["accuracy"])
    assert acc.shape == (len(tj.QUICK.map_currents_ma), len(tj.QUICK.map_temperatures_k))
    assert np.all((acc > 0.1) & (acc <= 1.0))
    assert m["map_vs_simulate_max_diff"] < 1e-4
    assert m["latency_per_word_s"] == pytest.approx(20 * 100 * 40e-9)
    assert 0 < m["energy_per_word_j"] < 1e-5


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_record(quick, interrupted_run_resumes):
    """Ctrl-C at step 2 of the co-design loop, then the same command: the finished stages load,
    the loop goes on from step 2, and the record is the uninterrupted one."""
    interrupted_run_resumes("torrejon2017", quick[1], stop_at=2, resumed=[
        "lyon_front_end", "lyon_sequence", "lyon_oscillator", "lyon_seed1", "mfcc_front_end",
        "mfcc_sequence", "mfcc_oscillator", "mfcc_seed1", "wide_seed0", "wide_seed1", "check",
        "map"],
        owner="torrejon2017 co-design")
