"""physnn.parallel: a batch or an ensemble of chips laid out over several devices gives the same
results as on one. Several devices are simulated with XLA's host-platform device count, in a
fresh process (it must be set before jax starts)."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn import parallel


def child(script, *args, devices=None) -> str:
    """Run ``script`` in a fresh Python on the CPU, presented as ``devices`` devices (None: as
    the child itself sets up); return what it printed, after checking that it succeeded."""
    env = {key: v for key, v in os.environ.items() if key != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    run = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, physnn as pn
    from physnn import codesign, parallel

    assert len(jax.devices()) == 2, jax.devices()
    sto = pn.STONetwork(current_ma=jnp.array([6.5, 7.0, 7.5, 8.0]),
                        coupling=0.003 * (1 - jnp.eye(4)), rf_coupling=jnp.full((4, 2), 0.002),
                        temperature_k=300.0)
    freqs = 0.29 + 0.04 * jax.random.uniform(jax.random.key(0), (6, 2))
    tones = pn.Tones(freqs, amps=0.5)
    kw = dict(t1=200.0, dt=0.5, saveat="final", key=jax.random.key(3))

    one = pn.simulate(sto, tones, **kw)
    two = pn.simulate(sto, parallel.shard(tones, 6), **kw)
    p = two.obs["power"]
    assert p.sharding.spec == jax.sharding.PartitionSpec(None, "batch"), p.sharding
    assert len(p.sharding.device_set) == 2
    np.testing.assert_allclose(np.asarray(p), np.asarray(one.obs["power"]), rtol=1e-6, atol=1e-7)

    # four chips of four oscillators: split by chip, never by oscillator
    chips = codesign.fabricate(sto, jax.random.key(1), {"f0_ghz": 0.02}, 4, batch_ndim=1)
    placed = parallel.shard(chips, 4)
    assert placed.f0_ghz.sharding.spec == jax.sharding.PartitionSpec("batch")
    assert placed.coupling.sharding.spec == jax.sharding.PartitionSpec()
    a = pn.simulate(chips, tones, **kw).obs["power"]
    b = pn.simulate(placed, tones, **kw).obs["power"]
    assert b.sharding.spec == jax.sharding.PartitionSpec(None, "batch"), b.sharding
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)

    # gradients through a sharded solve
    loss = lambda dev, drive: jnp.mean(pn.simulate(dev, drive, t1=100.0, dt=0.5,
                                                   saveat="final").obs["power"])
    g1 = jax.grad(loss)(sto, tones).current_ma
    g2 = jax.grad(loss)(sto, parallel.shard(tones, 6)).current_ma
    np.testing.assert_allclose(np.asarray(g2), np.asarray(g1), rtol=1e-5, atol=1e-8)

    # each device differentiates its own part, and the parts' gradients are summed once
    total = lambda dev, drive: jnp.sum(pn.simulate(dev, drive, t1=100.0, dt=0.5,
                                                   saveat="final").obs["power"])
    whole = jax.grad(total)(sto, tones)
    parts = jax.jit(lambda dev, drive: parallel.sum_over_shards(
        lambda part: jax.grad(total)(dev, part), drive, 6))(sto, tones)
    for name in ("current_ma", "coupling", "f0_ghz"):
        # float32 sums in another order: agreement to 1e-6 of the gradient's scale
        g = np.asarray(getattr(whole, name))
        np.testing.assert_allclose(np.asarray(getattr(parts, name)), g, rtol=1e-5,
                                   atol=1e-6 * np.abs(g).max())
    odd = pn.Tones(freqs[:5], amps=0.5)
    try:
        parallel.sum_over_shards(lambda part: jax.grad(total)(sto, part), odd, 5)
    except ValueError as e:
        assert "n=5 is not a multiple of the 2 devices" in str(e), e
    else:
        raise AssertionError("no error for 5 samples on 2 devices")
    try:
        parallel.shard(tones, 5)
    except ValueError as e:
        assert "n=5 is not a multiple of the 2 devices" in str(e) and "gives 6" in str(e), e
    else:
        raise AssertionError("no error for 5 samples on 2 devices")
    print("OK")
""")


@pytest.mark.slow  # end to end: a training or a run on two CPU devices, tens of seconds
def test_two_devices_give_the_results_of_one():
    assert child(SCRIPT, devices=2).strip().endswith("OK")


def test_pad_repeats_the_last_entry_and_shard_on_one_device():
    tones = pn.Tones(jnp.array([[0.29, 0.30], [0.31, 0.32], [0.33, 0.30]]), amps=0.5)
    padded = parallel.pad(tones, 3, 4)
    assert padded.freqs.shape == (4, 2)
    np.testing.assert_array_equal(padded.freqs[3], tones.freqs[2])
    assert parallel.pad(tones, 3, 3) is not None and parallel.pad(tones, 3, 3).freqs.shape == (3, 2)
    sto = pn.STONetwork(n_oscillators=2, rf_coupling=jnp.full((2, 2), 0.002), temperature_k=0.0)
    a = pn.simulate(sto, padded, t1=50.0, dt=0.5, saveat="final").obs["power"]
    b = pn.simulate(sto, parallel.shard(padded, 4), t1=50.0, dt=0.5, saveat="final").obs["power"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a[0, 3]), np.asarray(a[0, 2]))


def test_only_batch_and_ensemble_axes_are_padded_or_split_whatever_their_size():
    """A network of 4 oscillators, 4 chips of it, a batch of 4 tones and a mask of 5 virtual nodes
    for 5 sequences: pad and sum_over_shards touch the chips' ensemble axis and the drives' batch
    axis, never the oscillators of the network or the nodes of the mask."""
    from physnn import codesign

    sto = pn.STONetwork(n_oscillators=4, temperature_k=0.0)
    tones = pn.Tones(jnp.linspace(0.29, 0.32, 4)[:, None], amps=0.5)
    dev, drv = parallel.pad((sto, tones), 4, 3)
    assert dev.f0_ghz.shape == (4,) and dev.coupling.shape == (4, 4)  # the nominal device: as it is
    assert drv.freqs.shape == (6, 1)
    chips = codesign.fabricate(sto, jax.random.key(0), {"f0_ghz": 0.01}, 4)
    padded = parallel.pad(chips, 4, 3)
    assert padded.f0_ghz.shape == (6, 4) and padded.coupling.shape == (4, 4)  # no chip axis: shared
    np.testing.assert_array_equal(padded.f0_ghz[5], chips.f0_ghz[3])
    masked = pn.Masked(jnp.ones((5, 7)), jnp.linspace(-1, 1, 5), 0.1)
    pm = parallel.pad(masked, 5, 2)
    assert pm.inputs.shape == (6, 7, 1) and pm.mask.shape == (5, 1)
    # sum_over_shards splits the sequences and hands every part the whole mask
    seen = parallel.sum_over_shards(lambda part: {"mask": jnp.sum(part.mask),
                                                  "inputs": jnp.asarray(part.inputs.shape[0], float)},
                                    masked, 5)
    assert float(seen["mask"]) == float(jnp.sum(masked.mask)) and float(seen["inputs"]) == 5.0


def test_sum_over_shards_on_one_device_is_the_plain_sum():
    x = jnp.arange(12.0).reshape(6, 2)
    got = parallel.sum_over_shards(lambda part: {"s": jnp.sum(part[0] ** 2), "n": part[1]},
                                   (x, 3.0), 6)
    assert float(got["s"]) == float(jnp.sum(x**2)) and float(got["n"]) == 3.0


def test_bad_input_is_a_clear_error():
    x = jnp.zeros((4, 2))
    for n in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="n=.* must be a positive integer"):
            parallel.shard(x, n)
        with pytest.raises(ValueError, match="n=.* must be a positive integer"):
            parallel.pad(x, n, 2)
    with pytest.raises(ValueError, match="no array in batch has a leading axis of size n=3"):
        parallel.sum_over_shards(jnp.sum, x, 3)
    with pytest.raises(ValueError, match="multiple=0 must be a positive integer"):
        parallel.pad(x, 4, 0)
    with pytest.raises(ValueError, match="devices is empty"):
        parallel.shard(x, 4, devices=[])
    assert parallel.shard(x, 4, devices=jax.devices()[:1]).sharding.num_devices == 1


RULE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import dataclasses
    from physnn import parallel
    from physnn.tasks import load_romera
    import experiments.romera2018 as romera
    from experiments.romera2018 import measure, model, rule

    assert parallel.use_host_cores(2) == (sys.argv[1] == "2")
    spans = []  # how many devices each measurement of the rule was split over
    real_shard = parallel.shard

    def shard(tree, n, **kw):
        placed = real_shard(tree, n, **kw)
        spans.append(len(placed.current_ma.sharding.device_set))
        return placed

    parallel.shard = shard
    data = load_romera()
    x, y = data.features.astype(np.float32), data.labels
    idx = np.arange(0, len(y), 3)
    cfg = dataclasses.replace(romera.QUICK, t1_ns=200.0, rule_iters=2)
    start = model.initial_model(x[idx], cfg, "pattern")
    trained, hist = rule.train_pattern_rule(start, x[idx], y[idx], cfg)
    print(json.dumps({"devices": parallel.n_devices(), "spans": sorted(set(spans)),
                      "hist": [float(h) for h in hist],
                      "currents": np.asarray(trained.sto.current_ma).tolist(),
                      "pred": np.asarray(measure.predict_formants(trained, x)).tolist()}))
""")


@pytest.mark.slow  # end to end: a training or a run on two CPU devices, tens of seconds
def test_the_vowel_rule_split_over_two_cores_measures_what_one_does():
    """romera2018's current rule measures its candidates split over the devices when there are
    several (``physnn run`` presents the cores as devices): the same history, currents and
    predictions as on one device, bit for bit. ``use_host_cores`` takes effect only before JAX
    starts."""
    out = {k: json.loads(child(RULE, k, devices=1 if k == "1" else None).strip().splitlines()[-1])
           for k in ("1", "2")}
    assert out["1"]["devices"] == 1 and out["2"]["devices"] == 2
    assert out["1"]["spans"] == [1] and out["2"]["spans"] == [2]  # every measurement was split
    for key in ("hist", "currents", "pred"):
        assert out["2"][key] == out["1"][key], key
    before = os.environ.get("XLA_FLAGS")
    jax.devices()  # JAX has started in this process: too late to change the devices
    assert parallel.use_host_cores(2) is False
    assert os.environ.get("XLA_FLAGS") == before


def test_cli_cpu_devices_must_be_positive(capsys):
    from physnn import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["run", "sto-locking", "--quick", "--cpu-devices", "0"])
    assert e.value.code == 2
    assert "--cpu-devices=0: expected a positive number of devices" in capsys.readouterr().err


WIRING = textwrap.dedent("""
    import json, sys
    import jax
    from physnn import cli, experiment

    name, out = sys.argv[1], sys.argv[2]
    module = experiment.load(name)
    module.run = lambda config, out_dir: {"metrics": {"devices": len(jax.devices())}}
    assert cli.main(["run", name, "--quick", "--out", out] + sys.argv[3:]) == 0
""")


@pytest.mark.parametrize("name, extra, devices", [
    ("romera2018", [], parallel.usable_cores()), ("romera2018", ["--cpu-devices", "1"], 1),
    ("sto-locking", [], 1), ("sto-locking", ["--cpu-devices", "2"], 2)])
def test_physnn_run_presents_the_cores_to_experiments_that_split(tmp_path, name, extra, devices):
    """``physnn run`` presents the CPU as several devices only to experiments that split their
    batches (SPLITS_OVER_DEVICES), or when asked with --cpu-devices."""
    child(WIRING, name, str(tmp_path), *extra)
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["metrics"]["devices"] == devices == record["versions"]["devices"]


def test_only_declared_ensemble_parameters_are_batch_axes():
    """pad and shard read a device's ensemble_params: a parameter declared with 0 own axes and a
    leading axis of size n is padded; the same device class without a declaration (a user's
    device) has no batch axes, so nothing of it is padded."""
    from conftest import Relaxation

    declared = type("Declared", (Relaxation,), {"__annotations__": {}, "ensemble_params": {"tau": 0}})
    undeclared = type("Undeclared", (Relaxation,), {"__annotations__": {}, "ensemble_params": None})
    tau = jnp.arange(1.0, 5.0)
    assert parallel.pad(declared(tau=tau), 4, 3).tau.shape == (6,)
    assert parallel.pad(undeclared(tau=tau), 4, 3).tau.shape == (4,)
    assert parallel.pad(Relaxation(tau=tau), 4, 3).tau.shape == (4,)  # declares {}
