"""Mott (NbO2/VO2) relaxation oscillators: the oscillation window against the model's own static
I-V curve, the relaxation-limit period, coupling, gradients, parameter validation, and the opt-in
VO2 hysteresis (loop width, memory at zero bias, a relaxation oscillation through the loop).

Solves use the default Tsit5 with adaptive steps (rtol = atol = 1e-6; the thermal time is 0.3 ns
and the switching events are stiff), except the gradient test, which uses fixed steps dt = 0.05 ns
so that the discrete solution is a smooth function of the parameters."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.devices.mott import phase_from_spikes, static_iv

ADAPT = dict(adaptive=True, rtol=1e-6, atol=1e-6, max_steps=200_000)


def _ndr_window(dev, r_s):
    """(V_in at which the load line meets the top and the bottom of the NDR branch), from
    static_iv in float64."""
    with jax.enable_x64(True):
        temps = np.linspace(301.0, 1400.0, 4000)
        i, v = (np.asarray(a)[:, 0] for a in static_iv(dev, temps))
    slope = np.gradient(v, i)
    ndr = np.nonzero(slope < 0)[0]
    assert ndr.size > 10, "the default NbO2 curve must have an NDR branch"
    assert np.max(-slope[ndr]) < r_s  # the load line crosses the curve once
    k0, k1 = ndr[0], ndr[-1]
    return v[k0] + i[k0] * r_s, v[k1] + i[k1] * r_s, (i, v)


def test_oscillates_exactly_when_the_load_line_crosses_the_ndr_branch():
    dev0 = pn.MottNetwork("NbO2")
    r_s = float(dev0.load_resistance_ohm[0])
    lo, hi, (i_iv, v_iv) = _ndr_window(dev0, r_s)
    assert 2.9 < lo < 3.2 and 3.3 < hi < 3.7  # measured: 3.05 V and 3.52 V
    biases = np.array([lo - 0.3, 0.5 * (lo + hi), hi + 0.3])
    dev = pn.MottNetwork("NbO2", source_voltage_v=biases[:, None])
    ts = np.linspace(0.0, 2000.0, 4001)
    tr = pn.simulate(dev, None, t1=2000.0, dt=0.5, saveat=ts, **ADAPT)
    v = np.asarray(tr.obs["voltage"][:, :, 0])
    late = v[ts > 1000.0]
    vpp = late.max(0) - late.min(0)
    assert vpp[1] > 0.2  # inside: relaxation oscillation (measured 0.36 V peak to peak)
    assert vpp[0] < 1e-3 and vpp[2] < 1e-3  # outside on both sides: a fixed point
    # ... and the fixed point is the intersection of the load line with the static curve
    for b in (0, 2):
        resid = v_iv + i_iv * r_s - biases[b]
        k = np.argmin(np.abs(resid))
        np.testing.assert_allclose(v[-1, b], v_iv[k], atol=2e-3)
        # steady state: all the source power is dissipated (device + load)
        i_src = (biases[b] - v[-1, b]) / r_s
        np.testing.assert_allclose(np.asarray(tr.ys[-1].shape), [3, 2, 1])
        p = float(dev.power(0.0, tr.ys[-1], None)[b])
        np.testing.assert_allclose(p, biases[b] * i_src, rtol=1e-3)


def _period(ts, v):
    late = v[ts > ts[-1] / 3]
    ph = phase_from_spikes(ts, v, 0.5 * (late.max() + late.min()))
    ok = ~np.isnan(ph) & (ts > ts[-1] / 3)
    return 2 * np.pi * (ts[ok][-1] - ts[ok][0]) / (ph[ok][-1] - ph[ok][0])


def test_period_grows_in_proportion_to_c_in_the_relaxation_limit():
    # C R_s = 100 ns and 200 ns >> thermal time C_th R_th = 0.3 ns: the relaxation limit
    dev = pn.MottNetwork("NbO2", capacitance_f=jnp.array([[100e-12], [200e-12]]))
    ts = np.linspace(0.0, 3000.0, 12001)
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, saveat=ts, **ADAPT)
    v = np.asarray(tr.obs["voltage"][:, :, 0])
    p1, p2 = _period(ts, v[:, 0]), _period(ts, v[:, 1])
    assert 80.0 < p1 < 150.0  # measured 112.8 ns
    assert p2 / p1 == pytest.approx(2.0, rel=0.10)  # measured 1.967


def test_vo2_parameter_set_oscillates_inside_its_window():
    dev = pn.MottNetwork("VO2")
    assert float(dev.transition_k[0]) == pytest.approx(332.8) and dev.hysteresis_k == 7.19
    ts = np.linspace(0.0, 20000.0, 4001)
    tr = pn.simulate(dev, None, t1=20000.0, dt=5.0, saveat=ts, **ADAPT)
    late = np.asarray(tr.obs["voltage"][ts > 10000.0, 0])
    assert late.max() - late.min() > 0.05  # measured 0.10 V: close to the onset (see the docstring)


def _grad_and_central_differences(f, args, steps):
    """Gradient of the scalar ``f(*args)`` with respect to each argument (shape (1,) arrays), and
    the central difference of ``f`` in each argument with the matching step."""
    grads = jax.grad(f, argnums=tuple(range(len(args))))(*args)
    fds = []
    for k, h in enumerate(steps):
        up, down = list(args), list(args)
        up[k], down[k] = args[k] + h, args[k] - h
        fds.append(float((f(*up) - f(*down)) / (2 * h)))
    return [float(g[0]) for g in grads], fds


def test_gradient_of_mean_voltage_matches_finite_differences():
    with jax.enable_x64(True):
        dev = pn.MottNetwork("NbO2")
        y0 = dev.init_state(voltage=1.3, temperature=700.0)

        def mean_v(c_pf, r_s):
            d = eqx.tree_at(lambda m: (m.capacitance_f, m.load_resistance_ohm), dev,
                            (c_pf * 1e-12, r_s))
            tr = pn.simulate(d, None, t1=80.0, dt=0.05, y0=y0, saveat=np.linspace(40.0, 80.0, 81))
            return jnp.mean(tr.obs["voltage"])

        (gc, gr), (fdc, fdr) = _grad_and_central_differences(
            mean_v, (jnp.asarray([100.0]), jnp.asarray([1000.0])), (1e-4, 1e-3))
        assert abs(float(fdc)) > 1e-5 and abs(float(fdr)) > 1e-7
        np.testing.assert_allclose(gc, fdc, rtol=1e-5)
        np.testing.assert_allclose(gr, fdr, rtol=1e-5)


def test_observables_noise_and_drive_shapes():
    dev = pn.MottNetwork("NbO2", n_oscillators=3)
    y = dev.init_state((4,), voltage=1.0, temperature=500.0)
    assert y.shape == (4, 2, 3)
    obs = dev.observe(0.0, y, None)
    np.testing.assert_allclose(obs["current"], np.broadcast_to(1.0 / dev.resistance(500.0, 1.0), (4, 3)),
                               rtol=1e-6)
    assert dev.power(0.0, y, jnp.zeros((4, 1))).shape == (4,)
    assert dev.diffusion(0.0, y, None) is None
    noisy = pn.MottNetwork("NbO2", noise=0.5)
    g = noisy.diffusion(0.0, noisy.init_state((2,)), None)
    assert g.shape == (2, 2, 1) and np.all(np.asarray(g[:, 0]) == 0) and np.all(np.asarray(g[:, 1]) == 0.5)
    # an input voltage adds to V_in: u = +0.3 V at 3.3 V behaves like V_in = 3.6 V
    a = pn.MottNetwork("NbO2", source_voltage_v=3.6)
    y1 = dev.init_state(voltage=1.2, temperature=800.0)
    np.testing.assert_allclose(dev.drift(0.0, y1, jnp.full((3,), 0.3)),
                               a.drift(0.0, y1[..., :1], None).repeat(3, axis=-1), rtol=1e-6)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match=r"capacitance_f=-1e-12 must be > 0"):
        pn.MottNetwork(capacitance_f=-1e-12)
    with pytest.raises(ValueError, match=r"thermal_resistance_k_per_w=0.0 must be > 0"):
        pn.MottNetwork(thermal_resistance_k_per_w=0.0)
    with pytest.raises(ValueError, match=r"coupling_conductance_s has shape \(2, 3\)"):
        pn.MottNetwork(n_oscillators=2, coupling_conductance_s=jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"disagree.*coupling_capacitance_f -> 3.*n_oscillators -> 2"):
        pn.MottNetwork(n_oscillators=2, coupling_capacitance_f=jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"(?s)thermal_coupling_w_per_k=.*must be >= 0"):
        pn.MottNetwork(n_oscillators=2, thermal_coupling_w_per_k=-jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="material='GaAs'"):
        pn.MottNetwork("GaAs")


@pytest.mark.parametrize("name, elements", [("coupling_conductance_s", "resistors"),
                                            ("coupling_capacitance_f", "capacitors"),
                                            ("thermal_coupling_w_per_k", "thermal links")])
def test_asymmetric_coupling_matrices_are_errors_unless_traced(name, elements):
    """Resistors, capacitors and thermal links are reciprocal: G_jk != G_kj (beyond 1e-6
    relative) is refused, naming the worst pair; traced values (under jit) pass unchecked."""
    g = 1e-4 * (1.0 - np.eye(3))
    bad = g.copy()
    bad[2, 0] = 3e-4
    with pytest.raises(ValueError, match=rf"{name} is not symmetric: {name}\[0, 2\] = 0.0001 but "
                       rf"{name}\[2, 0\] = 0.0003, an asymmetry of 0.0002.*expected a symmetric "
                       rf"matrix \({elements} are reciprocal\)"):
        pn.MottNetwork(**{name: bad})
    with pytest.raises(ValueError, match=r"not symmetric \(ensemble index \(0, 1\)\)"):
        pn.MottNetwork(**{name: np.stack([g, bad])[None]})
    pn.MottNetwork(**{name: g * (1 + 1e-9 * np.triu(np.ones((3, 3))))})  # rounding is fine
    out = jax.jit(lambda m: getattr(pn.MottNetwork(**{name: m}), name))(bad)
    np.testing.assert_allclose(out, bad, rtol=1e-6)


def test_resistive_coupling_locks_in_phase_and_capacitive_in_anti_phase():
    # two oscillators detuned by 2 % in C, started out of phase; batch: uncoupled / 0.2 mS / 20 pF
    off = 1.0 - jnp.eye(2)
    zero = 0.0 * off
    dev = pn.MottNetwork(
        "NbO2", capacitance_f=jnp.array([100e-12, 102e-12]),
        coupling_conductance_s=jnp.stack([zero, 2e-4 * off, zero]),
        coupling_capacitance_f=jnp.stack([zero, zero, 20e-12 * off]))
    y0 = dev.init_state((3,), voltage=jnp.array([1.2, 1.45]), temperature=jnp.array([600.0, 800.0]))
    ts = np.linspace(0.0, 3000.0, 12001)
    tr = pn.simulate(dev, None, t1=3000.0, dt=0.5, y0=y0, saveat=ts, **ADAPT)
    v = np.asarray(tr.obs["voltage"])  # (t, 3, 2)
    late = v[ts > 1000.0]
    ph = phase_from_spikes(ts, v, 0.5 * (late.max() + late.min()))
    window = (ts > 2000.0) & ~np.isnan(ph[:, :, 0]).any(1) & ~np.isnan(ph[:, :, 1]).any(1)
    d = (ph[window, :, 1] - ph[window, :, 0]) / (2 * np.pi)  # cycles
    slip = d.max(0) - d.min(0)
    assert slip[0] > 0.1  # uncoupled: the detuned pair drifts
    assert slip[1] < 0.01 and slip[2] < 0.01  # coupled: locked
    rel = np.mod(d[-1] + 0.5, 1.0) - 0.5
    assert abs(rel[1]) < 0.1  # resistive: in phase (measured -0.049 cycles)
    assert abs(abs(rel[2]) - 0.5) < 0.1  # capacitive: anti-phase (measured 0.484 cycles)


# ------------------------------------------------------------------ VO2 hysteresis (opt-in)
HYST_OSC = dict(hysteretic=True, ambient_k=300.0, on_resistance_ohm=100.0)  # module docstring


def test_hysteresis_loop_switches_at_tc_plus_and_minus_half_its_width():
    """A slow temperature ramp 310 K -> 355 K -> 310 K (0.01 K/ns, against tau_s = 1 ns): phi
    crosses 1/2 on heating at T_c + h/2 and on cooling at T_c - h/2 (VO2: 336.4 K and 329.2 K),
    so the loop is h = 7.19 K wide; a switch held inside the loop keeps its phase."""
    with jax.enable_x64(True):
        dev = pn.MottNetwork("VO2", hysteretic=True)
        dt = 0.1
        up = np.arange(310.0, 355.0, 0.01 * dt)
        ramp = jnp.asarray(np.r_[up, up[::-1]])

        def step(phi, temp):
            phi = phi + dt * dev.metallic_rate(temp, phi)[0]
            return phi, phi

        _, phi = jax.lax.scan(step, jnp.asarray(0.0), ramp)
        phi, ramp = np.asarray(phi), np.asarray(ramp)
        n = up.size
        t_heat = ramp[np.nonzero(phi[:n] > 0.5)[0][0]]
        t_cool = ramp[n + np.nonzero(phi[n:] < 0.5)[0][0]]
        tc, h = 332.8, 7.19
        assert t_heat == pytest.approx(tc + h / 2, abs=0.1)
        assert t_cool == pytest.approx(tc - h / 2, abs=0.1)
        # inside the loop (T = T_c) every phi between the branches is a fixed point (memory),
        # and a phi outside them is pushed back onto the nearer branch
        up, down = (float(b[0]) for b in dev.metallic_branches(jnp.asarray(tc)))
        rate = lambda p: float(dev.metallic_rate(jnp.asarray(tc), jnp.asarray(p))[0])  # noqa: E731
        for phi0 in (up, 0.5, down):
            assert rate(phi0) == 0.0
        assert rate(0.5 * up) > 0 and rate(0.5 * (1 + down)) < 0


def test_hysteretic_switch_remembers_its_phase_at_zero_bias():
    """Zero bias, ambient at T_c (inside the loop): an insulating and a metallic switch stay so for
    2 us; at an ambient above the loop both end metallic. The anhysteretic model has no memory."""
    prepared = jnp.asarray([0.0, 1.0])
    for ambient, expect_memory in ((332.8, True), (345.0, False)):
        dev = pn.MottNetwork("VO2", hysteretic=True, ambient_k=ambient, source_voltage_v=0.0,
                             n_oscillators=2)
        y0 = dev.init_state(voltage=0.0, metallic=prepared)
        assert y0.shape == (3, 2)
        tr = pn.simulate(dev, None, t1=2000.0, dt=1.0, y0=y0, saveat=np.array([2000.0]))
        phi = np.asarray(tr.obs["metallic_fraction"])[-1]
        r = 1.0 / np.asarray(dev.conductance(tr.obs["temperature"][-1], 0.0, phi))
        if expect_memory:  # each stays on its branch of the loop at T_c (phi_up = 0.083)
            up, down = (float(b[0]) for b in dev.metallic_branches(jnp.asarray([ambient])))
            np.testing.assert_allclose(phi, [up, down], atol=1e-3)
            assert r[0] / r[1] > 5
        else:
            assert np.all(phi > 0.95)
    with pytest.raises(ValueError, match="hysteretic=True"):
        pn.MottNetwork("VO2").init_state(metallic=1.0)
    with pytest.raises(ValueError, match="metallic"):
        pn.MottNetwork("VO2", hysteretic=True).init_state(metallic=1.5)
    with pytest.raises(ValueError, match="hysteresis_k=-1.0"):
        pn.MottNetwork("VO2", hysteresis_k=-1.0)


def test_hysteretic_relaxation_oscillation_traverses_the_loop():
    """At 300 K ambient, R_on = 100 Ohm and 16 V the hysteretic VO2 switch is a relaxation
    oscillator: phi swings 0 <-> 1. It switches off on the cooling branch, at T_c - h/2 (the
    switch cools by well under a kelvin per switching time), and on by a thermal runaway that
    the heating branch triggers: phi reaches 1/2 while T shoots through T_c + h/2 at kelvins per
    ns, so the on-temperature is sampled within a few kelvin of it. The same switch without
    hysteresis oscillates too, with a shorter cycle: it switches at T_c both ways, whereas the
    hysteretic one must heat further up and cool further down."""
    saves = np.arange(20000.0, 40000.0, 1.0)
    periods = {}
    for hyst in (True, False):
        kw = dict(HYST_OSC, hysteretic=hyst)
        dev = pn.MottNetwork("VO2", source_voltage_v=16.0, **kw)
        tr = pn.simulate(dev, None, t1=40000.0, dt=1.0, y0=dev.init_state(), saveat=saves)
        v, temp = (np.asarray(tr.obs[k])[:, 0] for k in ("voltage", "temperature"))
        mid = 0.5 * (v.max() + v.min())
        ph = phase_from_spikes(saves, v, mid)
        ok = ~np.isnan(ph)
        periods[hyst] = 2 * np.pi * (saves[ok][-1] - saves[ok][0]) / (ph[ok][-1] - ph[ok][0])
        assert v.max() - v.min() > 5.0
        if hyst:
            phi = np.asarray(tr.obs["metallic_fraction"])[:, 0]
            assert phi.min() < 0.01 and phi.max() > 0.99
            on = np.nonzero((phi[:-1] < 0.5) & (phi[1:] >= 0.5))[0]
            off = np.nonzero((phi[:-1] > 0.5) & (phi[1:] <= 0.5))[0]
            assert on.size >= 3 and off.size >= 3
            np.testing.assert_allclose(temp[off], 332.8 - 7.19 / 2, atol=0.3)
            np.testing.assert_allclose(temp[on], 332.8 + 7.19 / 2, atol=3.5)
            assert np.all(temp[on] > 332.8 + 1.0)  # above the anhysteretic transition
    assert periods[True] > periods[False]  # measured 1557 ns against 1363 ns


@pytest.mark.slow
def test_gradient_through_the_hysteresis_matches_finite_differences():
    with jax.enable_x64(True):
        dev = pn.MottNetwork("VO2", source_voltage_v=16.0, **HYST_OSC)
        y0 = dev.init_state(voltage=2.0, temperature=320.0)

        def mean_v(vin, tau):
            d = eqx.tree_at(lambda m: (m.source_voltage_v, m.switching_time_ns), dev, (vin, tau))
            tr = pn.simulate(d, None, t1=3000.0, dt=0.5, y0=y0, saveat=np.linspace(1000.0, 3000.0, 401))
            return jnp.mean(tr.obs["voltage"])

        (gv, gt), (fdv, fdt) = _grad_and_central_differences(
            mean_v, (jnp.asarray([16.0]), jnp.asarray([1.0])), (1e-5, 1e-5))
        assert abs(float(fdv)) > 1e-4
        np.testing.assert_allclose(gv, fdv, rtol=1e-4)
        np.testing.assert_allclose(gt, fdt, rtol=1e-4, atol=1e-6)
