"""physnn.codesign: fabricated chips (parameter spread), energy accounting, constrained designs
and first-order sensitivities, checked against closed forms: each chip's free-running power and
frequency, the power a driven resonator absorbs at resonance, the optimum of a robust design
trained through the solve, and the elasticities of the steady frequency."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physnn as pn
from physnn import codesign


def quiet_sto(**kw):
    kw.setdefault("temperature_k", 0.0)
    return pn.STONetwork(**kw)


def test_fabricated_chips_have_the_requested_spread():
    dev = quiet_sto(n_oscillators=4, coupling=0.001 * (1 - jnp.eye(4)))
    n = 4000
    for dist in ("normal", "lognormal"):
        chips = codesign.fabricate(dev, jax.random.key(1), {"f0_ghz": 0.03, "damping": 0.1}, n,
                                   distribution=dist)
        assert chips.batch_shape == (n,) and chips.f0_ghz.shape == (n, 4)
        for name, sigma in (("f0_ghz", 0.03), ("damping", 0.1)):
            r = np.asarray(getattr(chips, name) / getattr(dev, name)).ravel()
            if dist == "lognormal":
                assert r.min() > 0
                r_log = np.log(r)  # normal with mean -sigma^2/2 and std sigma
                se = sigma / np.sqrt(r.size)
                assert abs(r_log.mean() + sigma**2 / 2) < 5 * se
                assert abs(r_log.std() - sigma) < 5 * sigma / np.sqrt(2 * r.size)
            else:
                se = sigma / np.sqrt(r.size)
                assert abs(r.mean() - 1) < 5 * se
                assert abs(r.std() - sigma) < 5 * sigma / np.sqrt(2 * r.size)
        # parameters not named keep their nominal value on every chip (and their shape)
        assert chips.current_ma is dev.current_ma and chips.coupling is dev.coupling
    # the elements of one chip are independent draws, as are the two parameters
    f, g = np.asarray(chips.f0_ghz), np.asarray(chips.damping)
    assert np.corrcoef(f[:, 0], f[:, 1])[0, 1] == pytest.approx(0.0, abs=5 / np.sqrt(n))
    assert np.corrcoef(f[:, 0], g[:, 0])[0, 1] == pytest.approx(0.0, abs=5 / np.sqrt(n))


def test_same_key_same_chips_and_zero_stays_zero():
    w = jnp.array([[0.0, 0.002, 0.0], [0.002, 0.0, 0.001], [0.0, 0.001, 0.0]])
    dev = quiet_sto(n_oscillators=3, coupling=w)
    spread = {"coupling": 0.2, "current_ma": 0.05}
    a = codesign.fabricate(dev, jax.random.key(3), spread, 5, symmetric=("coupling",))
    b = codesign.fabricate(dev, jax.random.key(3), spread, 5, symmetric=("coupling",))
    c = codesign.fabricate(dev, jax.random.key(4), spread, 5, symmetric=("coupling",))
    assert np.array_equal(a.coupling, b.coupling) and np.array_equal(a.current_ma, b.current_ma)
    assert not np.array_equal(a.current_ma, c.current_ma)
    k = np.asarray(a.coupling)
    assert np.all(k[:, np.asarray(w) == 0] == 0)  # a missing coupling stays missing
    np.testing.assert_array_equal(k, np.swapaxes(k, -1, -2))  # reciprocal
    assert not np.allclose(k[0], k[1])


def test_reciprocal_coupling_matrices_stay_symmetric_with_the_spread_per_link():
    """Springs, resistors, capacitors and thermal links are reciprocal (the devices' constructors
    refuse asymmetric matrices), so fabricate keeps them symmetric without being asked: one
    factor per link, shared by (i, j) and (j, i), so each link scatters by sigma; the diagonal
    and missing links stay zero; naming them in symmetric= as well gives the same chips."""
    n, sigma = 4000, 0.1
    key = jax.random.key(5)
    duff = pn.DuffingNetwork(n_resonators=4, temperature_k=0.0)  # ring
    mott = pn.MottNetwork(coupling_conductance_s=2e-4 * pn.devices.mechanical.coupling_matrix(4, 1.0),
                          thermal_coupling_w_per_k=1e-6 * (1 - np.eye(4)))
    assert duff.reciprocal == {"coupling_n_per_m"} and len(mott.reciprocal) == 3
    for dev, name in ((duff, "coupling_n_per_m"), (mott, "coupling_conductance_s"),
                      (mott, "thermal_coupling_w_per_k")):
        for dist in ("normal", "lognormal"):
            chips = codesign.fabricate(dev, key, {name: sigma}, n, distribution=dist)
            k, k0 = np.asarray(getattr(chips, name)), np.asarray(getattr(dev, name))
            np.testing.assert_array_equal(k, np.swapaxes(k, -1, -2))
            assert np.all(k[:, k0 == 0] == 0)
            iu = np.triu_indices(4, 1)
            r = (k / np.where(k0 == 0, 1.0, k0))[:, iu[0], iu[1]][:, k0[iu] != 0]  # one per link
            r = np.log(r) + sigma**2 / 2 if dist == "lognormal" else r - 1
            assert abs(r.std() - sigma) < 5 * sigma / np.sqrt(2 * r.size)
            assert abs(np.corrcoef(r[:, 0], r[:, 1])[0, 1]) < 5 / np.sqrt(n)  # links independent
            again = codesign.fabricate(dev, key, {name: sigma}, n, distribution=dist, symmetric=(name,))
            np.testing.assert_array_equal(np.asarray(getattr(again, name)), k)
    with pytest.raises(ValueError, match=r"symmetric='coupling_n_per_m' must be a tuple"):
        codesign.fabricate(duff, key, {"f0_mhz": 0.01}, 2, symmetric="coupling_n_per_m")
    # a device built from a fabricated chip's matrices passes the constructor's symmetry check
    chips = codesign.fabricate(duff, key, {"coupling_n_per_m": sigma}, 3)
    pn.DuffingNetwork(coupling_n_per_m=chips.coupling_n_per_m, topology=None, temperature_k=0.0)


def test_a_sweep_of_operating_points_sees_the_same_chips():
    """Chips are drawn per element of a parameter's own axes: every point of a sweep that the
    nominal device already carries (here three drive forces) and every input of a batch sees
    the same chips, and the draws do not depend on the sweep or on batch_ndim."""
    kw = dict(n_resonators=3, temperature_k=0.0)
    plain = pn.DuffingNetwork(**kw)
    sweep = pn.DuffingNetwork(drive_force_pn=jnp.array([[0.5], [1.0], [2.0]]) * jnp.ones(3), **kw)
    spread = {"f0_mhz": 1e-3, "coupling_n_per_m": 0.1}
    key = jax.random.key(11)
    a = codesign.fabricate(plain, key, spread, 5)
    b = codesign.fabricate(sweep, key, spread, 5)
    c = codesign.fabricate(sweep, key, spread, 5, batch_ndim=2)
    assert a.batch_shape == (5,) and b.batch_shape == (5, 3) and c.batch_shape == (5, 1, 1, 3)
    assert b.f0_mhz.shape == (5, 1, 3) and c.coupling_n_per_m.shape == (5, 1, 1, 1, 3, 3)
    np.testing.assert_array_equal(b.f0_mhz[:, 0], a.f0_mhz)
    np.testing.assert_array_equal(c.f0_mhz.reshape(5, 3), a.f0_mhz)
    np.testing.assert_array_equal(c.coupling_n_per_m.reshape(5, 3, 3), a.coupling_n_per_m)


def test_chips_simulate_as_independent_devices_with_their_own_closed_forms():
    """A spread of frequency, threshold and nonlinear shift: in one solve, every chip relaxes to its
    own free-running power (zeta_c - 1)/(zeta_c + Q) and frequency f0_c + N_c p0_c, and equals a
    device built alone with that chip's parameters."""
    dev = quiet_sto(n_oscillators=2, current_ma=jnp.array([10.0, 8.0]), threshold_ma=5.0)
    chips = codesign.fabricate(
        dev, jax.random.key(0),
        {"f0_ghz": 0.05, "threshold_ma": 0.1, "nonlinear_shift_ghz": 0.2}, 6, batch_ndim=1)
    assert chips.batch_shape == (6, 1)
    y0 = jnp.broadcast_to(dev.init_state() * 0.3, (6, 3, 2, 2))  # 3 copies of the same input
    tr = pn.simulate(chips, None, t1=3000.0, dt=0.5, y0=y0, saveat="final")
    p, f = np.asarray(tr.obs["power"][-1]), np.asarray(tr.obs["frequency_ghz"][-1])
    assert p.shape == (6, 3, 2)
    zeta = np.asarray(dev.current_ma / chips.threshold_ma)[:, 0]  # (6, 2)
    p0 = (zeta - 1) / (zeta + 1.5)
    f0 = np.asarray(chips.f0_ghz)[:, 0] + np.asarray(chips.nonlinear_shift_ghz)[:, 0] * p0
    assert np.ptp(p0) > 0.05 and np.ptp(f0) > 0.02  # the spread is visible
    for b in range(3):
        np.testing.assert_allclose(p[:, b], p0, rtol=1e-3)
        np.testing.assert_allclose(f[:, b], f0, rtol=1e-3)
    for c in (0, 5):
        alone = quiet_sto(current_ma=dev.current_ma, f0_ghz=chips.f0_ghz[c, 0],
                          threshold_ma=chips.threshold_ma[c, 0],
                          nonlinear_shift_ghz=chips.nonlinear_shift_ghz[c, 0],
                          frame_ghz=dev.frame_ghz)
        one = pn.simulate(alone, None, t1=3000.0, dt=0.5, y0=y0[c, 0], saveat="final")
        np.testing.assert_allclose(np.asarray(one.obs["power"][-1]), p[c, 0], rtol=1e-5)


@pytest.mark.slow
def test_gradient_of_the_mean_over_chips_matches_finite_differences_and_the_closed_form():
    """Robust co-design: d/dI of the chips' mean steady power, through fabricate (the current
    itself is spread) and the solve, against central differences and the closed form
    mean_c (1 + Q)/(zeta_c + Q)^2 dzeta_c/dI, with zeta_c = I_c/I_th,c and dzeta_c/dI = I_c/(I I_th,c)."""
    with jax.enable_x64(True):
        dev = quiet_sto(n_oscillators=1, current_ma=jnp.array([8.0]), threshold_ma=5.0)
        key = jax.random.key(7)
        spread = {"threshold_ma": 0.1, "damping": 0.1, "current_ma": 0.05}

        def mean_power(current):
            nominal = eqx.tree_at(lambda d: d.current_ma, dev, current)
            chips = codesign.fabricate(nominal, key, spread, 8)
            y0 = jnp.broadcast_to(dev.init_state(), (8, 2, 1))
            tr = pn.simulate(chips, None, t1=3000.0, dt=0.5, y0=y0, saveat="final")
            return jnp.mean(tr.obs["power"][-1])

        i0 = jnp.array([8.0])
        g = float(jax.grad(mean_power)(i0)[0])
        h = 1e-3
        fd = float((mean_power(i0 + h) - mean_power(i0 - h)) / (2 * h))
        chips = codesign.fabricate(dev, key, spread, 8)
        th, i_c = np.asarray(chips.threshold_ma)[:, 0], np.asarray(chips.current_ma)[:, 0]
        zeta = i_c / th
        assert np.ptp(i_c) > 0.2
        closed = float(np.mean((1 + 1.5) / (zeta + 1.5) ** 2 * i_c / (8.0 * th)))
        assert g == pytest.approx(fd, rel=1e-6)
        assert g == pytest.approx(closed, rel=1e-4)


def test_energy_of_constant_dc_power_per_chip():
    dev = quiet_sto(n_oscillators=2, current_ma=jnp.array([7.0, 9.0]), resistance_ohm=100.0)
    chips = codesign.fabricate(dev, jax.random.key(2), {"current_ma": 0.1}, 3)
    ts = jnp.linspace(0.0, 200.0, 9)
    tr = pn.simulate(chips, None, t1=200.0, dt=1.0, saveat=ts)
    e = np.asarray(codesign.energy(chips, tr))
    i = np.asarray(chips.current_ma)
    np.testing.assert_allclose(e, np.sum(i**2 * 100.0, -1) * 1e-6 * 200e-9, rtol=1e-5)
    cum = np.asarray(codesign.energy(chips, tr, cumulative=True))
    assert cum.shape == (9, 3) and np.all(cum[0] == 0)
    np.testing.assert_allclose(cum[-1], e, rtol=1e-6)
    np.testing.assert_allclose(cum[4], e / 2, rtol=1e-5)


def test_energy_a_resonator_absorbs_at_resonance_per_chip():
    """A linear resonator driven at resonance dissipates F^2/(2 m gamma) = F^2 Q/(2 m w0) in the
    steady state; with a spread of Q, each chip its own."""
    dev = pn.DuffingNetwork(n_resonators=1, f0_mhz=2.0, q=100.0, mass_kg=1e-15, k3_n_per_m3=0.0,
                            coupling_n_per_m=0.0, topology="none", drive_force_pn=1.0,
                            temperature_k=0.0)
    chips = codesign.fabricate(dev, jax.random.key(5), {"q": 0.2}, 4, distribution="lognormal")
    ts = jnp.linspace(300.0, 400.0, 201)  # 300 us = 20 amplitude decay times of the highest Q
    tr = pn.simulate(chips, pn.Constant(jnp.zeros(1)), t1=400.0, dt=0.05, saveat=ts)
    e = np.asarray(codesign.energy(chips, tr))
    q = np.asarray(chips.q)[:, 0]
    w0 = 2 * np.pi * 2.0e6  # rad/s
    p = (1e-12) ** 2 * q / (2 * 1e-15 * w0)  # W
    assert q.max() < 150 and np.ptp(q) > 10
    np.testing.assert_allclose(e, p * 100e-6, rtol=1e-3)


def test_bad_input_is_a_clear_error():
    dev = quiet_sto(n_oscillators=2)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="no parameter 'f0'.*f0_ghz"):
        codesign.fabricate(dev, key, {"f0": 0.01}, 4)
    with pytest.raises(ValueError, match=r"spread\['damping'\]=-0.1 must be a finite number >= 0"):
        codesign.fabricate(dev, key, {"damping": -0.1}, 4)
    with pytest.raises(ValueError, match=r"spread\['damping'\]=nan"):
        codesign.fabricate(dev, key, {"damping": float("nan")}, 4)
    for n in (0, 2.5, True):
        with pytest.raises(ValueError, match="n=.* must be a positive integer"):
            codesign.fabricate(dev, key, {"damping": 0.1}, n)
    with pytest.raises(ValueError, match="batch_ndim=-1"):
        codesign.fabricate(dev, key, {"damping": 0.1}, 4, batch_ndim=-1)
    with pytest.raises(ValueError, match="distribution='uniform'"):
        codesign.fabricate(dev, key, {"damping": 0.1}, 4, distribution="uniform")
    with pytest.raises(ValueError, match="non-empty mapping"):
        codesign.fabricate(dev, key, {}, 4)
    with pytest.raises(ValueError, match="'damping', which is not a matrix.*coupling"):
        codesign.fabricate(dev, key, {"damping": 0.1}, 4, symmetric=("damping",))
    with pytest.raises(ValueError, match=r"spread\['damping'\]=2.0 drew a factor .* <= 0"):
        codesign.fabricate(dev, key, {"damping": 2.0}, 64)
    assert codesign.fabricate(dev, key, {"damping": 2.0}, 64, distribution="lognormal").damping.min() > 0
    node = pn.DuffingDelayNode()
    assert "delay" not in codesign.parameter_names(node) and "q" in codesign.parameter_names(node)
    with pytest.raises(ValueError, match="no parameter 'delay'.*grid"):
        codesign.fabricate(node, key, {"delay": 0.01}, 4)
    with pytest.raises(ValueError, match="MackeyGlassNode takes no ensemble axes"):
        codesign.fabricate(pn.MackeyGlassNode(), key, {"eta": 0.01}, 4)
    with pytest.raises(TypeError, match="physnn device"):
        codesign.fabricate({"f0_ghz": 1.0}, key, {"f0_ghz": 0.01}, 4)
    tr = pn.simulate(dev, None, t1=10.0, dt=1.0, saveat="final")
    with pytest.raises(ValueError, match="at least two"):
        codesign.energy(dev, tr)
    with pytest.raises(ValueError, match="time_unit='tau'.*seconds_per_unit"):
        codesign.energy(pn.MackeyGlassNode(), tr)
    with pytest.raises(ValueError, match="seconds_per_unit=-1"):
        codesign.energy(dev, tr, seconds_per_unit=-1.0)


# ------------------------------------------------------------------------- sensitivities
def test_elasticities_through_the_solve_match_the_closed_form():
    """d ln f / d ln p of the steady frequency f = f0 + N (zeta - 1)/(zeta + Q), zeta = I/I_th,
    through a solve that relaxes from p = 0.09 (x64), against the closed form."""
    with jax.enable_x64(True):
        dev = quiet_sto(current_ma=8.0)
        y0 = jnp.array([[0.3], [0.0]])

        def frequency(d):
            tr = pn.simulate(d, None, t1=2500.0, dt=0.5, y0=y0, saveat="final")
            return tr.obs["frequency_ghz"][-1, 0]

        names = ["f0_ghz", "nonlinear_shift_ghz", "current_ma", "threshold_ma",
                 "nonlinear_damping", "damping"]
        el = {k: float(v[0]) for k, v in codesign.sensitivity(frequency, dev, names).items()}
        f0, n, i, ith, q = 0.3, 0.05, 8.0, 5.0, 1.5
        z = i / ith
        p0 = (z - 1) / (z + q)
        f = f0 + n * p0
        closed = {"f0_ghz": f0 / f, "nonlinear_shift_ghz": n * p0 / f,
                  "current_ma": n * (1 + q) / (z + q) ** 2 * z / f,
                  "threshold_ma": -n * (1 + q) / (z + q) ** 2 * z / f,
                  "nonlinear_damping": -n * (z - 1) / (z + q) ** 2 * q / f}
        for k, v in closed.items():
            assert el[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
        assert abs(el["damping"]) < 1e-9  # the steady state does not depend on the damping
        # default names: everything fabricate can spread, shaped like the parameters
        full = codesign.sensitivity(lambda d: d.free_running_frequency_ghz()[0], dev)
        assert set(full) == set(codesign.parameter_names(dev))
        assert full["coupling"].shape == dev.coupling.shape
    # a device without ensemble axes (a delay node): its parameters but theta, which the drive sets
    node = pn.MackeyGlassNode(n_nodes=4)
    el = codesign.sensitivity(lambda d: d.eta**2 * d.gamma, node)
    assert float(el["eta"]) == pytest.approx(2.0) and float(el["gamma"]) == pytest.approx(1.0)
    assert "theta" not in el and float(el["delay"]) == 0.0
    assert float(codesign.spread_std(lambda d: d.eta**2, node, {"eta": 0.01})) == pytest.approx(
        2 * 0.01 * 0.5**2)


@pytest.mark.slow
def test_first_order_spread_matches_monte_carlo_over_fabricated_chips():
    """The linearised chip-to-chip spread of the four oscillators' mean frequency against 4000
    chips drawn by fabricate (the standard error of a standard deviation from 4000 draws is
    1.1 %), and the same estimate through a solve against the closed form."""
    dev = quiet_sto(n_oscillators=4, current_ma=jnp.array([6.5, 7.0, 7.5, 8.0]))
    spread = {"current_ma": 0.02, "threshold_ma": 0.03, "f0_ghz": 0.004}

    def mean_frequency(d):
        return jnp.mean(d.free_running_frequency_ghz(), axis=-1)

    linear = float(codesign.spread_std(mean_frequency, dev, spread))
    chips = codesign.fabricate(dev, jax.random.key(11), spread, 4000)
    mc = float(jnp.std(mean_frequency(chips)))
    assert linear == pytest.approx(mc, rel=5 / np.sqrt(2 * 4000))  # 5 standard errors
    # each parameter's own share: the spreads add in quadrature
    parts = [float(codesign.spread_std(mean_frequency, dev, {k: v})) for k, v in spread.items()]
    assert linear == pytest.approx(np.sqrt(np.sum(np.square(parts))), rel=1e-5)
    assert min(parts) > 0.1 * linear  # all three matter here
    # through a solve that relaxes to the steady state, the same estimate
    with jax.enable_x64(True):
        y0 = jnp.broadcast_to(jnp.array([[0.3], [0.0]]), (2, 4))

        def simulated(d):
            tr = pn.simulate(d, None, t1=3000.0, dt=0.5, y0=y0, saveat="final")
            return jnp.mean(tr.obs["frequency_ghz"][-1])

        assert float(codesign.spread_std(simulated, dev, spread)) == pytest.approx(linear, rel=1e-4)


def test_sensitivity_bad_input_is_a_clear_error():
    dev = quiet_sto()
    with pytest.raises(ValueError, match="fn.* = 0, so relative changes"):
        codesign.sensitivity(lambda d: 0.0 * d.current_ma[0], dev, ["current_ma"])
    with pytest.raises(ValueError, match="must return a finite scalar"):
        codesign.sensitivity(lambda d: d.current_ma, dev, ["current_ma"])
    with pytest.raises(ValueError, match="no parameter 'current'.*current_ma"):
        codesign.sensitivity(lambda d: d.current_ma[0], dev, ["current"])
    with pytest.raises(ValueError, match=r"spread\['current_ma'\]=-0.1"):
        codesign.spread_std(lambda d: d.current_ma[0], dev, {"current_ma": -0.1})
    with pytest.raises(ValueError, match="non-empty mapping"):
        codesign.spread_std(lambda d: d.current_ma[0], dev, {})
    with pytest.raises(ValueError, match="fn must be callable"):
        codesign.spread_std(3.0, dev, {"current_ma": 0.1})


# ------------------------------------------------------------------------------ constraints
def test_constrained_design_starts_at_the_nominal_device_and_never_leaves_its_bounds():
    w = jnp.array([[0.0, 0.002, 0.0], [0.002, 0.0, 0.001], [0.0, 0.001, 0.0]])
    dev = quiet_sto(n_oscillators=3, coupling=w, current_ma=jnp.array([6.0, 7.5, 9.0]))
    bounds = {"current_ma": (5.5, 12.0), "coupling": "positive", "damping": (None, 0.1),
              "nonlinear_shift_ghz": (None, None), "mode_energy_j": (1e-19, 1e-16, "log")}
    design = codesign.constrain(dev, bounds)
    for name in bounds:
        np.testing.assert_allclose(np.asarray(getattr(design.device, name)),
                                   np.asarray(getattr(dev, name)), rtol=1e-6, atol=0)
    # wherever an optimiser takes the unconstrained variables, the device stays physical
    for r in (-60.0, -3.0, 0.0, 3.0, 60.0):
        raw = {k: jnp.full_like(x, r) for k, x in design.raw.items()}
        v = eqx.tree_at(lambda d: d.raw, design, raw).values()
        assert np.all((v["current_ma"] >= 5.5) & (v["current_ma"] <= 12.0))  # closed, to rounding
        present = np.asarray(w) > 0
        assert np.all(v["coupling"][present] > 0) and np.all(v["coupling"][~present] == 0)
        assert np.all(v["damping"] <= 0.1)
        e = v["mode_energy_j"]  # closed, to float32 rounding
        assert np.all((e >= 1e-19 * (1 - 1e-6)) & (e <= 1e-16 * (1 + 1e-6)))
        assert np.all(np.isfinite(v["nonlinear_shift_ghz"]))
    # a logarithmic range: its middle is the geometric mean of the ends
    mid = eqx.tree_at(lambda d: d.raw["mode_energy_j"], design, jnp.zeros(3)).values()["mode_energy_j"]
    np.testing.assert_allclose(mid, np.sqrt(1e-19 * 1e-16), rtol=1e-5)
    # fixed_zeros=False makes the absent couplings design variables too; zero must then be inside
    open_w = codesign.constrain(dev, {"coupling": (-0.01, 0.01)}, fixed_zeros=False)
    assert open_w.active["coupling"] is None
    np.testing.assert_allclose(np.asarray(open_w.device.coupling), np.asarray(w), atol=1e-9)


@pytest.mark.slow
def test_design_gradient_matches_finite_differences_and_fixed_parts_get_none():
    """d/d(raw) of a loss through the solve, against central differences, in x64; parameters that
    are not design variables, and absent couplings, get exactly zero gradient."""
    with jax.enable_x64(True):
        w = jnp.array([[0.0, 0.003], [0.0, 0.0]])
        dev = quiet_sto(n_oscillators=2, coupling=w, current_ma=jnp.array([7.0, 8.0]),
                        f0_ghz=jnp.array([0.3, 0.301]))
        design = codesign.constrain(dev, {"current_ma": (5.5, 12.0), "coupling": (0.0, 0.01)},
                                    fixed_zeros=True)
        y0 = dev.init_state() * 0.7

        def loss(d):
            tr = pn.simulate(d.device, None, t1=400.0, dt=0.5, y0=y0, saveat="final")
            return jnp.sum(tr.obs["power"][-1] * jnp.array([1.0, 2.0])) + jnp.sum(d.device.damping)

        g = eqx.filter_grad(loss)(design)
        assert np.all(np.asarray(g.template.damping) == 0)  # fixed: stop_gradient
        assert np.all(np.asarray(g.template.current_ma) == 0)
        gw = np.asarray(g.raw["coupling"])
        assert gw[0, 1] != 0 and np.all(gw[[0, 1, 1], [0, 0, 1]] == 0)
        h = 1e-5
        for name, idx in (("current_ma", (0,)), ("current_ma", (1,)), ("coupling", (0, 1))):
            def at(delta, name=name, idx=idx):
                r = dict(design.raw)
                r[name] = r[name].at[idx].add(delta)
                return loss(eqx.tree_at(lambda d: d.raw, design, r))
            fd = float((at(h) - at(-h)) / (2 * h))
            assert float(g.raw[name][idx]) == pytest.approx(fd, rel=1e-6)


@pytest.mark.slow  # end to end: a training or a run on two CPU devices, tens of seconds
def test_robust_codesign_through_the_solve_finds_the_closed_form_optimum():
    """Co-design an oscillator whose frequency must hit 308 MHz across a 5 % chip-to-chip spread
    of its DC current, at the least DC power: J = mean_c (f_c - f*)^2 / MHz^2 + 0.3 P_c / mW.
    The design variables are the current, in [6.5, 15] mA, and the tunability N/2pi, in
    [5, 200] MHz. Adam, through fabricate and the solve (each chip relaxing from p = 0.16), must
    land on the optimum of the closed form f_c = f0 + N (zeta_c - 1)/(zeta_c + Q) over the same
    chips, found on a grid. Without the spread the best design is different: the least current
    the bounds allow."""
    f_target, lam, n, ith, q = 0.308, 0.3, 32, 5.0, 1.5
    dev = quiet_sto(current_ma=7.5, threshold_ma=ith, nonlinear_damping=q)
    key = jax.random.key(5)
    spread = {"current_ma": 0.05}
    bounds = {"current_ma": (6.5, 15.0), "nonlinear_shift_ghz": (0.005, 0.2)}
    t1 = 1500.0

    def objective(design, batch, k, chips=n):
        d = design.device
        if chips:
            d = codesign.fabricate(d, key, spread, chips, distribution="lognormal")
        m = chips or 1
        y0 = jnp.broadcast_to(jnp.array([[0.4], [0.0]]), (m, 2, 1))
        tr = pn.simulate(d, None, t1=t1, dt=1.0, y0=y0, saveat=np.array([t1 - 100.0, t1]))
        f = tr.obs["frequency_ghz"][-1]
        watts = codesign.energy(d, tr) / 100e-9
        return jnp.mean(((f - f_target) * 1e3) ** 2) + lam * jnp.mean(watts) * 1e3

    design = codesign.constrain(dev, bounds)
    trained, hist = pn.train.fit(design, objective, None, optax.adam(0.1), steps=150,
                                 key=jax.random.key(0), filter_spec=design.filter_spec,
                                 progress=False)
    # the closed form on the same chips, over a grid of designs
    factor = np.asarray(codesign.fabricate(dev, key, spread, n, distribution="lognormal")
                        .current_ma)[:, 0] / 7.5
    currents, shifts = np.linspace(6.5, 15.0, 341), np.linspace(0.005, 0.2, 391)
    i_c = currents[:, None, None] * factor
    zeta = i_c / ith
    f_c = 0.3 + shifts[None, :, None] * (zeta - 1) / (zeta + q)
    j = np.mean(((f_c - f_target) * 1e3) ** 2, -1) + lam * np.mean(i_c**2 * 50.0 * 1e-6, -1) * 1e3
    a, b = np.unravel_index(j.argmin(), j.shape)
    got = trained.values()
    assert float(got["current_ma"][0]) == pytest.approx(currents[a], abs=0.05)
    assert float(got["nonlinear_shift_ghz"][0]) == pytest.approx(shifts[b], abs=0.001)
    assert 7.5 < currents[a] < 10.0  # an interior optimum: the bounds are not what stops it
    assert hist["loss"][-1] < hist["loss"][0] - 0.1
    assert hist["loss"][-1] == pytest.approx(j.min(), rel=2e-3)
    # the nominal device alone (no spread): precision costs nothing, so the power term drives
    # the current toward the lowest the bounds allow (the sigmoid approaches it slowly), and N
    # puts the frequency on target: a design well below the robust one
    nominal, _ = pn.train.fit(design, lambda d, b, k: objective(d, b, k, chips=0), None,
                              optax.adam(0.1), steps=150, key=jax.random.key(0),
                              filter_spec=design.filter_spec, progress=False)
    v = nominal.values()
    assert 6.5 <= float(v["current_ma"][0]) < currents[a] - 1.5
    zeta = float(v["current_ma"][0]) / ith
    f = 0.3 + float(v["nonlinear_shift_ghz"][0]) * (zeta - 1) / (zeta + q)
    assert f == pytest.approx(f_target, abs=2e-4)


@pytest.mark.slow
def test_design_of_a_delay_node_differentiates_through_the_delay_integrator():
    """A Mackey-Glass node's eta (linear range), gamma (logarithmic range) and delay (up to the
    history buffer's bound) as design variables: the gradient through physnn's delay integrator
    against central differences (x64). The delay, 4.23, lies between grid points of the step 0.1:
    on a grid point the interpolation's second derivative jumps, and a central difference
    straddling it averages two one-sided derivatives."""
    with jax.enable_x64(True):
        node = pn.MackeyGlassNode(n_nodes=20, delay=4.23)
        design = codesign.constrain(node, {"eta": (0.1, 2.0), "gamma": (0.01, 1.0, "log"),
                                           "delay": (2.0, node.delay_bound)})
        rng = np.random.default_rng(0)
        drive = pn.Masked(jnp.asarray(rng.uniform(0, 0.5, 30)), jnp.asarray(rng.choice([-0.1, 0.1], 20)),
                          theta=float(node.theta))

        def loss(d):
            tr = pn.simulate(d.device, drive, t1=100.0, dt=float(node.theta) / 2)
            return jnp.mean(tr.ys**2)

        g = eqx.filter_grad(loss)(design)
        h = 1e-5
        for name in ("eta", "gamma", "delay"):
            at = [loss(eqx.tree_at(lambda d: d.raw, design, {**design.raw, name: design.raw[name] + s}))
                  for s in (h, -h)]
            assert float(g.raw[name]) != 0
            assert float(g.raw[name]) == pytest.approx(float((at[0] - at[1]) / (2 * h)), rel=1e-6)


def test_design_trains_only_its_variables_and_resumes_from_a_checkpoint(tmp_path):
    w = jnp.array([[0.0, 0.003], [0.001, 0.0]])
    dev = quiet_sto(n_oscillators=2, coupling=w)
    design = codesign.constrain(dev, {"current_ma": (5.5, 12.0), "coupling": (0.0, 0.01)})

    def loss(d, batch, key):  # the closed form: pull both frequencies to 310 MHz
        m = d.device
        return jnp.sum((m.free_running_frequency_ghz() - 0.31) ** 2) * 1e6 + jnp.sum(m.coupling)

    opt = optax.adamw(0.05, weight_decay=0.1)  # decay would move any leaf it were given
    run = dict(key=jax.random.key(1), filter_spec=design.filter_spec, progress=False)
    whole, _ = pn.train.fit(design, loss, None, opt, steps=8, **run)
    pn.train.fit(design, loss, None, opt, steps=4, checkpoint_dir=tmp_path, **run)
    resumed, hist = pn.train.fit(design, loss, None, opt, steps=8, checkpoint_dir=tmp_path, **run)
    assert hist["step"] == list(range(8))
    for name in ("current_ma", "coupling"):
        np.testing.assert_array_equal(np.asarray(resumed.raw[name]), np.asarray(whole.raw[name]))
    assert not np.allclose(whole.values()["current_ma"], design.values()["current_ma"])
    for a, b in zip(jax.tree_util.tree_leaves(whole.template), jax.tree_util.tree_leaves(dev),
                    strict=True):
        assert a is b  # the fixed parameters were never handed to the optimiser


def test_constrain_bad_input_is_a_clear_error():
    dev = quiet_sto(n_oscillators=2, current_ma=jnp.array([6.0, 8.0]))
    inside = r"current_ma=\[6., 8.\] must lie strictly inside its bounds \(7.0, 12.0\)"
    with pytest.raises(ValueError, match=inside):
        codesign.constrain(dev, {"current_ma": (7.0, 12.0)})
    with pytest.raises(ValueError, match=r"bounds\['current_ma'\]=\(12.0, 5.0\).*lower end"):
        codesign.constrain(dev, {"current_ma": (12.0, 5.0)})
    for bad in ((0.0, float("inf")), (0.0,), "negative", (0.0, "1"), (0.0, 12.0, "log"),
                (1.0, 12.0, "linear"), (1.0, None, "log")):
        with pytest.raises(ValueError, match=r"bounds\['current_ma'\]"):
            codesign.constrain(dev, {"current_ma": bad})
    with pytest.raises(ValueError, match="coupling is zero everywhere.*fixed_zeros=False"):
        codesign.constrain(dev, {"coupling": "positive"})
    with pytest.raises(ValueError, match="no parameter 'frame_ghz'.*current_ma"):
        codesign.constrain(dev, {"frame_ghz": (0.1, 1.0)})
    with pytest.raises(ValueError, match=r"bounds\['delay'\]=\(1.0, 200.0\) reach beyond "
                                         r"MackeyGlassNode.delay_bound=160"):
        codesign.constrain(pn.MackeyGlassNode(), {"delay": (1.0, 200.0)})
    delay = codesign.constrain(pn.MackeyGlassNode(), {"delay": (1.0, 160.0)}).values()["delay"]
    assert delay == pytest.approx(80)
    with pytest.raises(ValueError, match="no parameter 'theta'.*Masked drive"):
        codesign.constrain(pn.MackeyGlassNode(), {"theta": (0.1, 1.0)})
    with pytest.raises(ValueError, match="non-empty mapping"):
        codesign.constrain(dev, {})
    with pytest.raises(ValueError, match="'damping' is not a design variable; they are current_ma"):
        codesign.constrain(dev, {"current_ma": "positive"}).value("damping")
    # a Design passed where its device belongs: the message says what to pass
    design = codesign.constrain(dev, {"current_ma": "positive"})
    with pytest.raises(ValueError, match=r"simulate: .*got Design; .*pass its .device"):
        pn.simulate(design, None, t1=10.0, dt=1.0)
    with pytest.raises(TypeError, match=r"fabricate: .*got Design; .*pass its .device"):
        codesign.fabricate(design, jax.random.key(0), {"current_ma": 0.1}, 3)
    with pytest.raises(TypeError, match=r"energy: .*got Design; .*pass its .device"):
        codesign.energy(design, None)
    # delay devices have design variables too (not their grid), without ensemble axes
    node = codesign.constrain(pn.MackeyGlassNode(), {"eta": (0.0, 2.0), "gamma": "positive"})
    assert set(node.values()) == {"eta", "gamma"}


# ------------------------------------------------------------------ the declared device contract

SHIPPED = [
    lambda: pn.STONetwork(n_oscillators=3, rf_coupling=jnp.full((3, 2), 0.002)),
    lambda: pn.STONetwork(n_oscillators=3, input="current", current_input_ma=jnp.ones(3)),
    lambda: pn.MottNetwork(n_oscillators=3),
    lambda: pn.DuffingNetwork(n_resonators=3, input_gain=jnp.ones((3, 2))),
    lambda: pn.DuffingDelayNode(n_nodes=5),
    lambda: pn.MackeyGlassNode(n_nodes=5),
    lambda: pn.IkedaNode(n_nodes=5),
]


@pytest.mark.parametrize("make", SHIPPED, ids=lambda m: type(m()).__name__ + getattr(
    m(), "input", ""))
def test_every_shipped_device_declares_what_its_fields_hold(make):
    """ensemble_params names every array parameter of a device with ensemble axes (and nothing
    else), each with as many own axes as the nominal device's array has; reciprocal names square
    matrices among them; a fabricated ensemble carries the chips axis in front of exactly those
    axes, and its batch_shape is (n,). A declared field that is None on this instance (an
    optional parameter it does not use, like a tone-driven oscillator's current input) has none."""
    from physnn.devices._base import ensemble_params

    dev = make()
    assert isinstance(type(dev).ensemble_params, dict)
    declared = ensemble_params(dev, "test")
    assert isinstance(declared, dict) and isinstance(type(dev).reciprocal, frozenset)
    arrays = {f.name for f in dataclasses.fields(dev) if not f.metadata.get("static", False)
              and eqx.is_inexact_array(getattr(dev, f.name))}
    if not hasattr(dev, "batch_shape"):  # single delay nodes: no ensemble axes
        assert declared == {}
        with pytest.raises(ValueError, match="takes no ensemble axes"):
            codesign.fabricate(dev, jax.random.key(0), {"eta": 0.1}, 3)
        return
    assert set(declared) == arrays
    for name, n_own in declared.items():
        assert getattr(dev, name).ndim == n_own, name
    for name in type(dev).reciprocal:
        assert declared[name] == 2 and getattr(dev, name).shape[-1] == getattr(dev, name).shape[-2]
    names = codesign.parameter_names(dev)
    spread = {name: 0.01 for name in names
              if np.all(np.asarray(getattr(dev, name)) != 0)}  # a zero stays zero
    chips = codesign.fabricate(dev, jax.random.key(0), spread, 4, distribution="lognormal")
    assert chips.batch_shape == (4,)
    for name in declared:
        value, nominal = getattr(chips, name), getattr(dev, name)
        if name in spread:
            assert value.shape == (4,) + nominal.shape, name
            assert not np.array_equal(value[0], value[1]), name  # the chips differ
        else:
            assert value.shape == nominal.shape, name  # not spread: broadcast, left as it was
    chips2 = codesign.fabricate(dev, jax.random.key(0), spread, 4, batch_ndim=1)
    assert chips2.batch_shape == (4, 1)


def test_drives_declare_their_batch_fields():
    drives = [pn.Constant(jnp.ones((3, 2))), pn.SampleAndHold(jnp.ones((3, 7, 2)), 1.0),
              pn.Tones(jnp.ones((3, 2)), amps=0.5), pn.Chirps(jnp.ones((3, 2)), jnp.ones((3, 2)), 10.0),
              pn.Masked(jnp.ones((3, 7)), jnp.ones(5), 0.2)]
    for drive in drives:
        assert drive.batch_shape == (3,), type(drive).__name__
        for name, n_own in type(drive).batch_fields.items():
            value = getattr(drive, name)
            assert value.shape[:value.ndim - n_own] == (3,), (type(drive).__name__, name)
    assert "mask" not in pn.Masked.batch_fields


class Undeclared(pn.AbstractDevice):
    """A user's device that declares no ensemble parameters."""

    rate: jax.Array

    @property
    def batch_shape(self):
        return self.rate.shape

    def init_state(self, batch_shape=()):
        return jnp.ones(tuple(batch_shape))

    def drift(self, t, y, u):
        return -self.rate * y

    def observe(self, t, y, u):
        return y

    def power(self, t, y, u):
        return jnp.zeros_like(y)


def test_a_device_that_declares_nothing_gets_a_clear_error_from_fabricate():
    dev = Undeclared(rate=jnp.asarray(1.0))
    with pytest.raises(ValueError, match=r"fabricate: Undeclared does not declare .*ensemble_params "
                                         r"= \{'rate': 1, \.\.\.\}.*adding-a-device"):
        codesign.fabricate(dev, jax.random.key(0), {"rate": 0.1}, 3)
    with pytest.raises(ValueError, match="parameter_names: Undeclared does not declare"):
        codesign.parameter_names(dev)
    declared = type("Declared", (Undeclared,), {"__annotations__": {}, "ensemble_params": {"rate": 0}})
    chips = codesign.fabricate(declared(rate=jnp.asarray(1.0)), jax.random.key(0), {"rate": 0.1}, 3)
    assert chips.rate.shape == (3,)
    wrong = type("Wrong", (Undeclared,), {"__annotations__": {}, "ensemble_params": {"k": 0}})
    with pytest.raises(ValueError, match=r"Wrong.ensemble_params names 'k', which is not one of its "
                                         r"array fields \(rate\)"):
        codesign.fabricate(wrong(rate=jnp.asarray(1.0)), jax.random.key(0), {"rate": 0.1}, 3)
