"""DuffingNetwork: physics checks against closed forms, frame agreement, gradients, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physnn as pn
from physnn.devices.mechanical import DuffingNetwork, coupling_matrix
from physnn.resonators import frequency_sweep, simulate_checked

F0 = 2.2  # MHz


def _single(**kw):
    base = dict(n_resonators=1, coupling_n_per_m=0.0, drive_force_pn=0.0, temperature_k=0.0)
    base.update(kw)
    return DuffingNetwork(**base)


def _frequency_by_zero_crossings(ts, x):
    """Mean frequency (MHz) of x(t) from linearly interpolated upward zero crossings."""
    ts, x = np.asarray(ts, dtype=float), np.asarray(x, dtype=float)
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    tc = ts[i] - x[i] * (ts[i + 1] - ts[i]) / (x[i + 1] - x[i])
    return (len(tc) - 1) / (tc[-1] - tc[0])


def test_free_ringdown_decays_at_w0_over_2q_in_both_frames():
    # lab frame, Q = 100, three decay times, 40 steps per period
    lab = _single(q=100.0, k3_n_per_m3=0.0, frame="lab")
    rate = float(lab.ringdown_rate()[0])
    t1 = 3 / rate
    tr = pn.simulate(lab, None, t1=t1, dt=1 / (F0 * 40), y0=lab.init_state(displacement_nm=10.0),
                     saveat=np.linspace(0, t1, 301))
    a = np.asarray(tr.obs["amplitude_nm"])[:, 0]
    measured = -np.polyfit(np.asarray(tr.ts), np.log(a), 1)[0]
    assert rate == pytest.approx(2 * np.pi * F0 / (2 * 100))
    assert measured == pytest.approx(rate, rel=2e-3)
    # rotating frame, the default Q = 4000 (NEMS), 2 ms in 1000 steps
    rot = _single(k3_n_per_m3=0.0)
    tr = pn.simulate(rot, None, t1=2000.0, dt=2.0, y0=rot.init_state(displacement_nm=10.0),
                     saveat=np.linspace(0, 2000.0, 101))
    a = np.asarray(tr.obs["amplitude_nm"])[:, 0]
    measured = -np.polyfit(np.asarray(tr.ts), np.log(a), 1)[0]
    assert measured == pytest.approx(2 * np.pi * F0 / (2 * 4000), rel=2e-3)


def test_backbone_follows_3k3a2_over_8mw0():
    # lab frame, (almost) undamped free oscillations released from x = A at rest; the
    # small-amplitude parameter eps = k3 A^2 / (m w0^2) stays <= 0.02, where the next term of the
    # Lindstedt series (-15/256 eps^2 w0) is below 0.3 % of the first-order shift.
    dev = _single(q=1e6, frame="lab")
    c3 = float(dev._cubic()[0])
    w0 = 2 * np.pi * F0
    amps = np.sqrt(np.array([0.005, 0.01, 0.02]) * w0**2 / c3)  # nm
    y0 = dev.init_state((3,), displacement_nm=amps[:, None])
    t1 = 40 / F0
    tr = pn.simulate(dev, None, t1=t1, dt=1 / (F0 * 50), y0=y0, saveat="steps")
    x = np.asarray(tr.obs["displacement_nm"])[:, :, 0]
    measured = np.array([_frequency_by_zero_crossings(tr.ts, x[:, b]) for b in range(3)])
    # the closed form in SI units, float64: dw = 3 k3 A^2 / (8 m w0)
    shift_pred = 3 * 3e11 * (amps * 1e-9) ** 2 / (8 * 1e-15 * w0 * 1e6) / (2 * np.pi * 1e6)
    np.testing.assert_allclose(dev.backbone_frequency_mhz(amps), F0 + shift_pred, rtol=1e-6)
    print("backbone shift (MHz) measured", measured - F0, "predicted", shift_pred)
    np.testing.assert_allclose(measured - F0, shift_pred, rtol=0.01)


def test_frequency_response_is_hysteretic_inside_the_harmonic_balance_band():
    dev = _single(q=500.0, drive_force_pn=40.0)
    lo, hi = dev.bistable_band_mhz()
    f = np.linspace(2.19, 2.25, 121)
    step = f[1] - f[0]
    up, _ = frequency_sweep(dev, f, settle_us=400.0, dt=0.5)
    dn, _ = frequency_sweep(dev, f[::-1], settle_us=400.0, dt=0.5)
    up, dn = np.asarray(up)[:, 0], np.asarray(dn)[::-1, 0]
    hb = dev.harmonic_balance_amplitudes(f)
    inside = ~np.isnan(hb[:, 2])
    assert inside.sum() >= 5
    # inside the band the up-sweep rides the upper branch and the down-sweep the lower one
    np.testing.assert_allclose(up[inside], hb[inside, 2], rtol=0.01)
    np.testing.assert_allclose(dn[inside], hb[inside, 0], rtol=0.01)
    assert np.all(up[inside] > 2 * dn[inside])
    # outside it both sweeps agree with the single branch, except on the first dwell past each
    # band edge: after a jump the dwell (5.5 ring-down times) still carries the transient, and a
    # frequency just past a saddle-node keeps the resonator in the bottleneck of its ghost
    out_up, out_dn = ~inside, ~inside.copy()
    out_up[np.flatnonzero(inside)[-1] + 1] = False
    out_dn[np.flatnonzero(inside)[0] - 1] = False
    np.testing.assert_allclose(up[out_up], hb[out_up, 0], rtol=0.01)
    np.testing.assert_allclose(dn[out_dn], hb[out_dn, 0], rtol=0.01)
    # the jumps happen at the saddle-node frequencies, at most two steps late (the bottleneck)
    jump_up = f[np.argmax(up[:-1] - up[1:]) + 1]  # first frequency on the low branch, going up
    jump_dn = f[np.argmax(dn[1:] - dn[:-1])]  # first frequency on the high branch, going down
    print(f"saddle-nodes (MHz) predicted {lo:.5f}, {hi:.5f}; jumps at {jump_dn:.5f}, {jump_up:.5f}")
    assert hi <= jump_up <= hi + 2 * step
    assert lo - 2 * step <= jump_dn <= lo
    with pytest.raises(ValueError, match="frame='rotating'"):
        frequency_sweep(_single(frame="lab"), f, settle_us=1.0, dt=0.1)


def test_weakly_coupled_pair_splits_into_the_predicted_normal_modes():
    m, kappa = 1e-15, 0.005
    k = m * (2 * np.pi * F0 * 1e6) ** 2
    dev = DuffingNetwork(f0_mhz=F0, q=1e6, mass_kg=m, k3_n_per_m3=0.0, coupling_n_per_m=kappa * k,
                         topology="chain", drive_force_pn=0.0, temperature_k=0.0, n_resonators=2,
                         frame="lab")
    x0 = jnp.array([10.0, 0.0])
    t1 = 60 / F0
    tr = pn.simulate(dev, None, t1=t1, dt=1 / (F0 * 50), y0=dev.init_state(displacement_nm=x0),
                     saveat="steps")
    x = np.asarray(tr.obs["displacement_nm"])
    f_sym = _frequency_by_zero_crossings(tr.ts, x[:, 0] + x[:, 1])
    f_anti = _frequency_by_zero_crossings(tr.ts, x[:, 0] - x[:, 1])
    predicted = (F0, F0 * np.sqrt(1 + 2 * kappa))
    assert f_sym == pytest.approx(predicted[0], rel=1e-5)
    assert f_anti == pytest.approx(predicted[1], rel=1e-5)
    assert f_anti - f_sym == pytest.approx(predicted[1] - predicted[0], rel=0.01)
    np.testing.assert_allclose(dev.normal_mode_frequencies_mhz(), predicted, rtol=1e-7)
    # the ring of 8 (defaults): modes w0^2 + 2 (k_c/m)(1 - cos(2 pi j / 8))
    ring = DuffingNetwork()
    j = np.arange(8)
    lam = (2 * np.pi * F0) ** 2 + 2 * 2e-4 / 1e-15 * 1e-12 * (1 - np.cos(2 * np.pi * j / 8))
    np.testing.assert_allclose(ring.normal_mode_frequencies_mhz(),
                               np.sort(np.sqrt(lam)) / (2 * np.pi), rtol=1e-7)


def test_rotating_frame_agrees_with_lab_frame():
    # a driven, coupled, nonlinear pair (resonator 0 driven harder), from rest, for two
    # ring-down times; Q = 300 so that the lab frame stays short
    kw = dict(f0_mhz=jnp.array([2.2, 2.205]), q=300.0, k3_n_per_m3=3e11, coupling_n_per_m=2e-3,
              topology="chain", drive_force_pn=jnp.array([100.0, 10.0]), drive_mhz=2.21,
              input_gain=jnp.array([[0.5], [0.0]]), temperature_k=0.0)
    lab = DuffingNetwork(frame="lab", **kw)
    rot = DuffingNetwork(frame="rotating", **kw)
    drive = pn.SampleAndHold(jnp.array([0.0, 1.0, 0.5, 1.0]), hold=20.0)
    tr_lab = pn.simulate(lab, drive, dt=1 / (2.2 * 40), saveat="steps")
    tr_rot = pn.simulate(rot, drive, dt=0.25, saveat="holds")
    n_sub = tr_lab.ts.shape[0] // 4
    ends = np.arange(1, 5) * n_sub - 1  # the ends of the four holds
    a_lab = np.asarray(tr_lab.obs["amplitude_nm"]) * np.exp(1j * np.asarray(tr_lab.obs["phase_rad"]))
    a_rot = np.asarray(tr_rot.obs["amplitude_nm"]) * np.exp(1j * np.asarray(tr_rot.obs["phase_rad"]))
    np.testing.assert_allclose(np.asarray(tr_lab.ts)[ends], np.asarray(tr_rot.ts), rtol=1e-5)
    scale = np.abs(a_rot).max()
    # nonlinear regime: at the largest amplitude the backbone shift exceeds a linewidth f0/Q
    shift = float(rot.backbone_frequency_mhz(scale)[0]) - 2.2
    assert shift > 2.2 / 300, shift
    err = np.abs(a_lab[ends] - a_rot).max() / scale
    print(f"lab vs rotating frame: max |A_lab - A_rot| / max |A| = {err:.4f}")
    assert err < 0.02, err
    # dissipated power: the lab frame's instantaneous m gamma v^2, averaged over the last
    # 10 drive cycles, against the rotating frame's cycle average
    last = slice(ends[-1] + 1 - int(round(10 / 2.21 * n_sub / 20)), ends[-1] + 1)
    p_lab = np.asarray(jax.vmap(lab.power)(tr_lab.ts[last], tr_lab.ys[last], tr_lab.us[last]))
    p_rot = float(rot.power(tr_rot.ts[-1], tr_rot.ys[-1], None))
    assert np.mean(p_lab) == pytest.approx(p_rot, rel=0.03)


def test_thermal_noise_gives_equipartition():
    # slow flow with thermal force: m w0^2 <x^2> = k_B T, i.e. <|A|^2> = 2 k_B T / k
    dev = _single(q=100.0, k3_n_per_m3=0.0, temperature_k=300.0)
    tr = pn.simulate(dev, None, t1=1500.0, dt=0.5, y0=dev.init_state((512,)),
                     saveat=np.linspace(200.0, 1500.0, 131), key=jax.random.key(0))
    a2 = np.asarray(tr.obs["amplitude_nm"]) ** 2
    predicted = 2 * 1.380649e-23 * 300.0 / float(dev.stiffness_n_per_m()[0]) * 1e18  # nm^2
    assert np.mean(a2) == pytest.approx(predicted, rel=0.04)


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        dev = DuffingNetwork(f0_mhz=jnp.array([2.2, 2.202]), q=jnp.array([400.0, 500.0]),
                             k3_n_per_m3=3e11, coupling_n_per_m=1e-3, topology="chain",
                             drive_force_pn=jnp.array([20.0, 5.0]), drive_mhz=2.203,
                             temperature_k=0.0, n_resonators=2)
        drive = pn.SampleAndHold(jnp.array([0.2, 1.0, 0.0, 0.6]), hold=25.0)

        @eqx.filter_jit
        def loss(d):
            tr = pn.simulate(d, drive, dt=0.5, saveat="holds")
            power_pw = jnp.sum(d.power(0.0, tr.ys[-1], None)) * 1e12
            return jnp.sum(tr.obs["amplitude_nm"] ** 2) + power_pw

        grads = eqx.filter_jit(eqx.filter_grad(loss))(dev)
        for name, rel in (("f0_mhz", 1e-7), ("q", 1e-6), ("k3_n_per_m3", 1e-6),
                          ("drive_force_pn", 1e-6), ("coupling_n_per_m", 1e-6),
                          ("input_gain", 1e-6), ("mass_kg", 1e-6)):
            p = getattr(dev, name)
            g = np.asarray(getattr(grads, name)).ravel()
            i = int(np.argmax(np.abs(np.asarray(p)).ravel()))
            h = rel * float(np.abs(np.asarray(p)).ravel()[i])
            bump = jnp.zeros(p.size).at[i].set(h).reshape(p.shape)
            lp = loss(eqx.tree_at(lambda d, n=name: getattr(d, n), dev, p + bump))
            lm = loss(eqx.tree_at(lambda d, n=name: getattr(d, n), dev, p - bump))
            fd = float(lp - lm) / (2 * h)
            print(f"d loss / d {name}[{i}]: autodiff {g[i]:.8g}, finite difference {fd:.8g}")
            assert g[i] == pytest.approx(fd, rel=1e-4), name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(q=0.0), r"q=0.0 must be > 0"),
        (dict(q=jnp.array([4000.0, -1.0])), r"q=\[.*\] must be > 0"),
        (dict(f0_mhz=-2.2), r"f0_mhz=-2.2 must be > 0"),
        (dict(mass_kg=0.0), r"mass_kg=0.0 must be > 0"),
        (dict(drive_mhz=0.0), r"drive_mhz=0.0 must be > 0"),
        (dict(coupling_n_per_m=np.zeros((8, 7)), topology=None), r"shape \(8, 7\).*square"),
        (dict(coupling_n_per_m=np.zeros((3, 3)), topology=None, f0_mhz=np.ones(4)),
         r"disagree on the number of resonators N"),
        (dict(coupling_n_per_m=np.zeros(3)), r"coupling_n_per_m has shape \(3,\)"),
        (dict(topology="star"), r"topology='star'"),
        (dict(input_gain=np.ones(8)), r"input_gain has shape \(8,\)"),
        (dict(frame="inertial"), r"frame='inertial'"),
        (dict(k3_n_per_m3=np.nan), r"k3_n_per_m3=nan must be finite"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DuffingNetwork(**kwargs)


def test_topologies():
    np.testing.assert_array_equal(coupling_matrix(4, 1.0, "chain"),
                                  [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    ring = coupling_matrix(4, 1.0, "ring")
    assert ring[0, 3] == ring[3, 0] == 1 and ring.sum() == 8
    k = np.arange(9.0).reshape(3, 3)
    dev = DuffingNetwork(coupling_n_per_m=k + k.T, topology=None)
    np.testing.assert_array_equal(np.diag(np.asarray(dev.coupling_n_per_m)), 0)
    assert dev.n_resonators == 3 and dev.input_gain.shape == (3, 1)


def test_an_asymmetric_spring_matrix_is_an_error_unless_traced():
    """Springs are reciprocal: k_ij != k_ji (beyond 1e-6 relative) is refused, naming the worst
    pair; the diagonal (ignored) may be anything; traced values (under jit) pass unchecked."""
    k = coupling_matrix(3, 2e-4, "chain")
    bad = k.copy()
    bad[0, 1] *= 1.5
    with pytest.raises(ValueError, match=r"coupling_n_per_m is not symmetric: coupling_n_per_m\[0, 1\] "
                       r"= 0.0003 but coupling_n_per_m\[1, 0\] = 0.0002, an asymmetry of 0.0001.*"
                       r"expected a symmetric matrix \(springs are reciprocal\)"):
        DuffingNetwork(coupling_n_per_m=bad, topology=None)
    with pytest.raises(ValueError, match=r"not symmetric \(ensemble index \(1,\)\)"):
        DuffingNetwork(coupling_n_per_m=np.stack([k, bad]), topology=None)
    # rounding-level asymmetry and an asymmetric diagonal are fine
    DuffingNetwork(coupling_n_per_m=k * (1 + 1e-9 * np.triu(np.ones((3, 3)))) + np.diag([1.0, 2, 3]),
                   topology=None)
    out = jax.jit(lambda m: DuffingNetwork(coupling_n_per_m=m, topology=None).coupling_n_per_m)(bad)
    np.testing.assert_allclose(out, bad, rtol=1e-6)


def test_bistable_band_that_reaches_the_search_grid_end_is_an_error():
    """At 32 pN the hardening band runs past f0 + 200 linewidths and the softening one below
    f0 - 200 linewidths: both name span_linewidths instead of indexing off the grid; a wider
    span finds the hardening band, and a span that would reach 0 Hz is refused."""
    hard = _single(drive_force_pn=32.0)
    with pytest.raises(ValueError, match=r"reaches the upper end of the search grid, 2.31 MHz = f0 \+ "
                       r"span_linewidths=200.0 .*pass a larger span_linewidths"):
        hard.bistable_band_mhz()
    lo, hi = hard.bistable_band_mhz(span_linewidths=1000.0)
    assert F0 < lo < hi < F0 + 1000 * F0 / 4000
    hb = hard.harmonic_balance_amplitudes(np.array([lo - 1e-6, lo + 1e-6, hi - 1e-6, hi + 1e-6]))
    np.testing.assert_array_equal(np.isnan(hb[:, 2]), [True, False, False, True])
    soft = _single(drive_force_pn=32.0, k3_n_per_m3=-3e11)
    with pytest.raises(ValueError, match=r"reaches the lower end of the search grid, 2.09 MHz = f0 - "
                       r"span_linewidths=200.0 .*pass a larger span_linewidths"):
        soft.bistable_band_mhz()
    # far below f0 the softening band's upper branch lies past the top of the barrier
    with pytest.raises(ValueError, match=r"lower end.*beyond the escape amplitude"):
        soft.bistable_band_mhz(span_linewidths=3990.0)
    with pytest.raises(ValueError, match=r"span_linewidths=4000.0 reaches 0 MHz.*span_linewidths < Q"):
        soft.bistable_band_mhz(span_linewidths=4000.0)
    assert _single(drive_force_pn=0.1).bistable_band_mhz() is None  # below the critical drive


def test_blow_up_names_the_resonator_and_the_time():
    # a softening spring (k3 < 0) driven hard escapes from its well: lab frame, resonator 1
    dev = DuffingNetwork(k3_n_per_m3=-3e11, drive_force_pn=jnp.array([1.0, 3e4, 1.0]),
                         coupling_n_per_m=0.0, q=200.0, frame="lab", temperature_k=0.0)
    with pytest.raises(pn.SimulationError,
                       match=r"resonator 1 blew up: its amplitude escaped over the potential "
                             r"barrier .* between t=\S+ and t=\S+ us.*softens"):
        simulate_checked(dev, None, t1=20.0, dt=1 / (F0 * 40), saveat=np.linspace(0, 20.0, 81))
    # the slow flow of a softening resonator, in a batch: escape over the barrier is reported
    rot = DuffingNetwork(k3_n_per_m3=-3e11, drive_force_pn=jnp.array([[1.0, 1.0], [1.0, 3e4]]),
                         coupling_n_per_m=0.0, q=4000.0, temperature_k=0.0)
    with pytest.raises(pn.SimulationError, match=r"resonator 1 \(batch element \(1,\)\) "
                                                  r"blew up.* between t=\S+ and t=\S+ us"):
        simulate_checked(rot, None, t1=400.0, dt=0.5, saveat=np.linspace(0, 400.0, 81))
    # a sane drive passes (same shapes: no new compilation) and returns the trajectory
    calm = eqx.tree_at(lambda d: d.drive_force_pn, rot, jnp.ones((2, 2)))
    tr = simulate_checked(calm, None, t1=400.0, dt=0.5, saveat=np.linspace(0, 400.0, 81))
    assert np.isfinite(np.asarray(tr.ys)).all() and tr.obs["amplitude_nm"].shape == (81, 2, 2)
    # a hardening resonator whose explicit steps go unstable (dt = 2 periods) is named too
    bad = DuffingNetwork(drive_force_pn=jnp.array([0.0, 0.0, 1e5]), coupling_n_per_m=1e-3,
                         q=200.0, frame="lab", temperature_k=0.0)
    with pytest.raises(pn.SimulationError, match=r"resonator 2 blew up.*passed 1e\+05 nm.*"
                                                  r"hardening.*reduce dt"):
        simulate_checked(bad, None, t1=20.0, dt=1.0)


def test_power_is_the_damping_loss_in_watts():
    # a steady linear resonator at resonance: P = F^2 / (2 m gamma) (all drive power is dissipated)
    dev = _single(q=4000.0, k3_n_per_m3=0.0, drive_force_pn=1.0, drive_mhz=F0)
    tr = pn.simulate(dev, None, t1=6000.0, dt=2.0, saveat="final")
    gamma_si = 2 * np.pi * F0 * 1e6 / 4000
    predicted = (1e-12) ** 2 / (2 * 1e-15 * gamma_si)
    assert float(dev.power(tr.ts[-1], tr.ys[-1], None)) == pytest.approx(predicted, rel=0.01)
    x_pred = 1e-12 * 4000 / float(dev.stiffness_n_per_m()[0]) * 1e9  # F Q / k, nm
    assert float(tr.obs["amplitude_nm"][-1, 0]) == pytest.approx(x_pred, rel=0.01)
