"""Graph colouring with coupled VO2 oscillators (Parihar et al. 2017): the graph tools (exact
chromatic numbers, readout), bad input, gradients through the dynamics against finite differences,
the quick experiment end to end (slow). The phase readout itself (physnn.phases) is tested in
test_analysis.py."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.parihar2017 as E
from experiments.parihar2017 import graphs, network, readout, search, training
from physnn.phases import frequency_cvs
from physnn.tasks import graphs as G


def test_chromatic_numbers_of_the_benchmark_families():
    assert [G.chromatic_number(G.cycle_graph(n)) for n in range(3, 10)] == [3, 2, 3, 2, 3, 2, 3]
    assert G.chromatic_number(G.petersen_graph()) == 3
    assert G.petersen_graph().sum() == 30 and set(G.petersen_graph().sum(1)) == {3}
    assert [G.chromatic_number(G.wheel_graph(n)) for n in range(3, 9)] == [4, 3, 4, 3, 4, 3]
    for seed in range(5):
        a, planted = G.planted_3_colourable(25, 0.3, seed)
        assert G.is_proper(a, planted) and G.chromatic_number(a) == 3
    # K4 needs 4 colours; the exact search must not stop at 3
    assert G.chromatic_number(1.0 - np.eye(4)) == 4


def test_greedy_and_phase_order_readout():
    a, planted = G.planted_3_colourable(20, 0.3, 7)
    for order in (None, G.largest_first_order(a), np.random.default_rng(0).permutation(20)):
        c = G.greedy_colouring(a, order)
        assert G.is_proper(a, c) and G.n_colours(c) >= 3
    # phases clustered by the planted colouring (three sectors, small jitter): 3 colours
    jitter = 0.2 * np.random.default_rng(1).standard_normal(20)
    ph = 2 * np.pi * planted / 3 + jitter + 5.0  # any rotation
    c = G.phase_order_colouring(a, ph)
    assert G.is_proper(a, c) and G.n_colours(c) == 3
    # the order starts after the widest gap: a cluster is not split across the wrap-around
    order = G.phase_order(np.array([6.2, 0.05, 3.0, 3.1]))
    assert list(order) == [0, 1, 2, 3]  # {6.2, 0.05} stay together; the widest gap is 3.1 -> 6.2


def test_arc_readout_reads_phase_clusters_and_never_beats_chi():
    rng = np.random.default_rng(3)
    fewer = 0
    for seed in range(40):
        a, planted = G.planted_3_colourable(18, 0.3, seed)
        # three phase clusters with jitter wide enough to interleave some neighbours' phases
        ph = 2 * np.pi * planted / 3 + 0.6 * rng.standard_normal(18)
        order = G.phase_order(ph)
        ff, arcs, both = (G.greedy_colouring(a, order), G.arc_colouring(a, order),
                          G.phase_colouring(a, ph))
        for c in (arcs, both):
            assert G.is_proper(a, c) and G.n_colours(c) >= 3
        assert G.n_colours(both) == min(G.n_colours(ff), G.n_colours(arcs))
        fewer += G.n_colours(arcs) < G.n_colours(ff)
    assert fewer > 0  # the arcs do read some cluster states that first fit misreads
    # cycles: anti-phase neighbours read as chi colours; random phases never as fewer
    for n in (5, 6, 7):
        c = G.cycle_graph(n)
        assert G.n_colours(G.phase_colouring(c, np.pi * np.arange(n) + 0.01 * np.arange(n))) == (
            G.chromatic_number(c))
        for _ in range(20):
            col = G.phase_colouring(c, rng.uniform(0, 2 * np.pi, n))
            assert G.is_proper(c, col) and G.n_colours(col) >= G.chromatic_number(c)
    # clean clusters: exactly one arc per cluster
    a, planted = G.planted_3_colourable(20, 0.3, 7)
    assert G.n_colours(G.arc_colouring(a, G.phase_order(2 * np.pi * planted / 3 + 1.0))) == 3


def _arc_colouring_reference(adj, order):
    """Every rotation of the order, arcs closed at the first node with a neighbour inside: the
    plain O(n^3) definition of ``graphs.arc_colouring``."""
    a = np.asarray(adj) > 0
    best = None
    for s in range(len(order)):
        colours = np.full(a.shape[0], -1)
        c, members = 0, []
        for i in np.roll(order, -s):
            if members and a[i, members].any():
                c, members = c + 1, []
            members.append(i)
            colours[i] = c
        if best is None or c < best.max():
            best = colours
    return best


def test_arc_colouring_matches_its_plain_definition():
    rng = np.random.default_rng(5)
    cases = [(G.cycle_graph(n), rng.permutation(n)) for n in (3, 4, 7)]
    cases += [(1.0 - np.eye(5), np.arange(5)), (G.petersen_graph(), rng.permutation(10))]
    for seed in range(60):
        a, _ = G.planted_3_colourable(int(rng.integers(9, 30)), float(rng.uniform(0.3, 0.9)), seed)
        cases.append((a, rng.permutation(a.shape[0])))
    for a, order in cases:
        np.testing.assert_array_equal(G.arc_colouring(a, order), _arc_colouring_reference(a, order))


def test_phase_cluster_takes_the_tightest_independent_cluster():
    # C5 (edges 01 12 23 34 40): nodes 0, 2 and nodes 1, 3 form two clusters of two; node 4 alone
    c5 = G.cycle_graph(5)
    ph = np.array([0.0, np.pi, 0.1, np.pi + 0.1, 2.0])
    assert list(G.phase_cluster(c5, ph)) == [0, 2]  # a tie of sizes goes to the lower anchor
    ph[4] = 0.05  # node 4 joins the first cluster, but it is adjacent to node 0: not taken
    assert list(G.phase_cluster(c5, ph)) == [0, 2]
    ph[0] = np.nan  # a silent oscillator is never taken
    assert 0 not in G.phase_cluster(c5, ph)
    # random states: always an independent set, within the width of its first member (the anchor)
    rng = np.random.default_rng(0)
    for seed in range(10):
        a, _ = G.planted_3_colourable(20, 0.3, seed)
        ph = rng.uniform(0, 2 * np.pi, 20)
        s = G.phase_cluster(a, ph, width=0.8)
        assert s.size >= 1 and not a[np.ix_(s, s)].any()
        assert np.all(np.abs(np.angle(np.exp(1j * (ph[s] - ph[s[0]])))) < 0.8)
    # maximal: the cluster, then every other node nearest in phase first while independent
    ph = np.array([0.0, np.pi, 0.1, np.pi + 0.1, 2.0])
    assert list(G.phase_cluster(c5, ph, maximal=True)) == [0, 2]  # 1, 3, 4 all touch 0 or 2
    path = G.cycle_graph(6)
    path[0, 5] = path[5, 0] = 0.0  # the path 0-1-2-3-4-5
    ph6 = np.array([0.0, 3.0, 0.05, 1.0, 2.0, 2.5])
    assert list(G.phase_cluster(path, ph6)) == [0, 2]
    assert list(G.phase_cluster(path, ph6, maximal=True)) == [0, 2, 4]  # 3 touches 2; 5 touches 4
    for seed in range(10):
        a, _ = G.planted_3_colourable(20, 0.3, seed)
        ph = rng.uniform(0, 2 * np.pi, 20)
        s, m = G.phase_cluster(a, ph, 0.8), G.phase_cluster(a, ph, 0.8, maximal=True)
        assert list(m[: s.size]) == list(s) and not a[np.ix_(m, m)].any()
        out = np.setdiff1d(np.arange(20), m)
        assert np.all(a[np.ix_(out, m)].any(1))  # no node can join: maximal
    with pytest.raises(ValueError, match=r"width = 4.0; expected a phase half-width in \(0, pi\]"):
        G.phase_cluster(c5, np.zeros(5), width=4.0)
    with pytest.raises(ValueError, match=r"phases has shape \(4,\); expected \(5,\)"):
        G.phase_cluster(c5, np.zeros(4))


def _k543_with_a_split_class():
    """K(5, 4, 3) in a state whose two largest phase clusters tie at 4 nodes: the first (lower
    anchor) is class A less node 4, which sits 1.5 rad away; the second is the whole class B.
    Class C overlaps B half a radian away."""
    cls = np.repeat(np.arange(3), (5, 4, 3))
    a = (cls[:, None] != cls[None, :]).astype(float)
    ph = np.array([0.0, 0.01, 0.02, 0.03, 1.5, np.pi, np.pi + 0.01, np.pi + 0.02, np.pi + 0.03,
                   np.pi + 0.5, np.pi + 0.51, np.pi + 0.52])
    return a, ph


def test_phase_clusters_are_the_largest_distinct_clusters_in_order():
    a, ph = _k543_with_a_split_class()
    cs = G.phase_clusters(a, ph, np.pi / 3, count=10)
    assert [sorted(c) for c in cs] == [[0, 1, 2, 3], [5, 6, 7, 8], [9, 10, 11], [4]]
    assert [sorted(c) for c in G.phase_clusters(a, ph, np.pi / 3, count=2)] == [[0, 1, 2, 3],
                                                                               [5, 6, 7, 8]]
    np.testing.assert_array_equal(G.phase_clusters(a, ph)[0], G.phase_cluster(a, ph))
    # maximal: each chosen cluster is extended around its own anchor
    m = G.phase_clusters(a, ph, np.pi / 3, count=2, maximal=True)
    assert [sorted(c) for c in m] == [[0, 1, 2, 3, 4], [5, 6, 7, 8]]
    # random states: distinct independent sets, sizes not increasing, the first = phase_cluster
    rng = np.random.default_rng(1)
    for seed in range(10):
        g, _ = G.planted_3_colourable(20, 0.3, seed)
        p = rng.uniform(0, 2 * np.pi, 20)
        cs = G.phase_clusters(g, p, 0.8, count=5)
        assert len({frozenset(c.tolist()) for c in cs}) == len(cs) <= 5
        assert all(not g[np.ix_(c, c)].any() for c in cs)
        assert all(x.size >= y.size for x, y in zip(cs, cs[1:], strict=False))
        np.testing.assert_array_equal(cs[0], G.phase_cluster(g, p, 0.8))
    assert [c.size for c in G.phase_clusters(a, np.full(12, np.nan), count=3)] == [0]
    with pytest.raises(ValueError, match=r"count = 0; expected an integer >= 1"):
        G.phase_clusters(a, ph, count=0)


@pytest.mark.slow
def test_second_stage_tries_the_next_cluster_when_the_tightest_is_not_a_class():
    """With ``cluster_candidates`` = 1 the second run gets the rest of class A's four nodes:
    node 4 with B and C, K(1, 4, 3), which holds triangles, so the restart cannot reach 3
    colours. The second cluster is the whole class B; its rest K(5, 3) is bipartite, and the
    oscillators must lock its two sides in anti-phase: 3 colours."""
    a, ph = _k543_with_a_split_class()
    cfg = dataclasses.replace(E.QUICK, restarts=1)
    design = {"coupling_pf": 3.0, "degree_exponent": 0.34, "node_pf": 108.0, "bias_v": 4.0,
              "equalise": 0.97}  # as in the test below
    cols, target = np.array([[5.0]]), np.array([3.0])
    one, runs1 = readout.second_stage([("K543", a)], design, cols, ph[None], target, jax.random.key(0),
                                dataclasses.replace(cfg, cluster_candidates=1))
    two, runs2 = readout.second_stage([("K543", a)], design, cols, ph[None], target, jax.random.key(0),
                                dataclasses.replace(cfg, cluster_candidates=2))
    assert runs1 == 1 and one[0, 0] >= 4.0
    assert runs2 == 2 and two[0, 0] == 3.0
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=r"cluster_candidates = .*; expected an integer >= 1"):
            readout.second_stage([("K543", a)], design, cols, ph[None], target, jax.random.key(0),
                           dataclasses.replace(cfg, cluster_candidates=bad))


@pytest.mark.slow
def test_second_stage_colours_the_rest_of_a_two_cluster_state():
    """The state the two-stage readout is for: one colour class in a tight phase cluster, the
    other two overlapping in anti-phase to it (no three arcs separate them), here given as a
    restart that used 5 colours. On the complete tripartite graph K(5, 4, 3) the cluster is the
    class of 5 (every independent set lies in one class); the second run, on the K(4, 3) left,
    must lock its two sides in anti-phase, which reads as 2 colours: 3 in all."""
    sizes = (5, 4, 3)
    cls = np.repeat(np.arange(3), sizes)
    a = (cls[:, None] != cls[None, :]).astype(float)
    ph = np.where(cls == 0, 0.01 * np.arange(12), np.pi + 0.3 * np.sin(np.arange(12.0)))
    assert sorted(G.phase_cluster(a, ph)) == [0, 1, 2, 3, 4]
    cfg = dataclasses.replace(E.QUICK, restarts=1, cluster_candidates=1)  # the tightest cluster only
    design = {"coupling_pf": 3.0, "degree_exponent": 0.34, "node_pf": 108.0, "bias_v": 4.0,
              "equalise": 0.97}  # near a co-designed design of an earlier record
    cols = np.array([[5.0]])
    out, runs = readout.second_stage([("K543", a)], design, cols, ph[None], np.array([3.0]),
                               jax.random.key(0), cfg)
    assert runs == 1 and out[0, 0] == 3.0
    # a restart already at the target, or with a silent oscillator, is left alone (no run)
    out, runs = readout.second_stage([("K543", a)], design, np.array([[3.0]]), ph[None], np.array([3.0]),
                               jax.random.key(0), cfg)
    assert runs == 0 and out[0, 0] == 3.0
    ph_silent = ph.copy()
    ph_silent[4] = np.nan
    out, runs = readout.second_stage([("K543", a)], design, np.array([[np.nan]]), ph_silent[None],
                               np.array([3.0]), jax.random.key(0), cfg)
    assert runs == 0 and np.isnan(out[0, 0])
    # bad input names the argument and the shape expected
    with pytest.raises(ValueError, match=r"cols has shape \(1, 2\); expected \(1, 1\)"):
        readout.second_stage([("K543", a)], design, np.ones((1, 2)), ph[None], np.array([3.0]),
                       jax.random.key(0), cfg)
    with pytest.raises(ValueError, match=r"phases has shape \(1, 5\); expected \(1, >= 12\)"):
        readout.second_stage([("K543", a)], design, cols, ph[None, :5], np.array([3.0]),
                       jax.random.key(0), cfg)
    with pytest.raises(ValueError, match=r"target has shape \(2,\); expected \(1,\)"):
        readout.second_stage([("K543", a)], design, cols, ph[None], np.array([3.0, 3.0]),
                       jax.random.key(0), cfg)
    with pytest.raises(ValueError, match=r"cluster_width_deg = 0; expected a phase half-width"):
        readout.second_stage([("K543", a)], design, cols, ph[None], np.array([3.0]),
                       jax.random.key(0), dataclasses.replace(cfg, cluster_width_deg=0))
    # an edgeless rest needs no run: the star K(1, 4) read as a cluster of the 4 leaves + the hub
    star = np.zeros((5, 5))
    star[0, 1:] = star[1:, 0] = 1.0
    out, runs = readout.second_stage([("star", star)], design, np.array([[3.0]]),
                               np.array([[np.pi, 0.0, 0.1, 0.2, 0.3]]), np.array([2.0]),
                               jax.random.key(0), cfg)
    assert runs == 0 and out[0, 0] == 2.0


def test_bad_graphs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"adjacency has shape \(0, 0\): an empty graph"):
        G.check_adjacency(np.zeros((0, 0)))
    with pytest.raises(ValueError, match=r"adjacency of shape \(3, 3\) has no edges: an empty"):
        G.chromatic_number(np.zeros((3, 3)))
    asym = G.cycle_graph(5)
    asym[1, 0] = 0.0
    with pytest.raises(ValueError, match=r"adjacency\[0, 1\]=1 but adjacency\[1, 0\]=0; expected a "
                                         r"symmetric matrix"):
        G.check_adjacency(asym)
    with pytest.raises(ValueError, match=r"shape \(2, 3\); expected a square"):
        G.check_adjacency(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"adjacency\[2, 2\]=1: a self-loop"):
        G.check_adjacency(np.diag([0.0, 0.0, 1.0, 0.0]) + G.cycle_graph(4))
    # the oscillator network needs symmetric coupling: the offending graph and entry are named
    with pytest.raises(ValueError, match=r"adj\[1\]\[0, 1\]=1 but adj\[1\]\[1, 0\]=0"):
        network.build_network(np.stack([G.cycle_graph(5), asym]), E.DESIGN0)
    with pytest.raises(ValueError, match=r"adj\[0\] of shape \(5, 5\) has no edges"):
        network.build_network(np.zeros((1, 5, 5)), E.DESIGN0)


@pytest.mark.slow
def test_gradient_through_the_dynamics_matches_finite_differences():
    config = dataclasses.replace(E.QUICK, t1_ns=3000.0, window_ns=1500.0, dt_ns=20.0)
    with jax.enable_x64(True):
        adj = jnp.asarray(graphs.pad([G.wheel_graph(5)])[0])  # hub degree 5, rim 3: the trim acts
        raw = training.to_raw(E.DESIGN0)
        key = jax.random.key(3)

        def loss(r):
            return training.surrogate_loss(r, adj, key, config)

        g = jax.grad(loss)(raw)
        for name, h in (("log_coupling_pf", 1e-4), ("bias_v", 1e-4), ("equalise_logit", 1e-4)):
            up = dict(raw, **{name: raw[name] + h})
            dn = dict(raw, **{name: raw[name] - h})
            fd = (loss(up) - loss(dn)) / (2 * h)
            assert abs(float(fd)) > 1e-4, name  # the parameter matters
            np.testing.assert_allclose(float(g[name]), float(fd), rtol=1e-4, err_msg=name)
        # on a fabricated chip (node biases bias (1 + 2 % z)): the spread changes the loss, and
        # the gradient in the nominal bias still matches finite differences
        chip = jnp.asarray(readout.node_biases(1.0, 1, adj.shape[-1], 1, 0.02, seed=5))

        def loss_chip(r):
            return training.surrogate_loss(r, adj, key, config, chip)

        assert abs(float(loss_chip(raw) - loss(raw))) > 1e-4
        h = 1e-4
        fd = (loss_chip(dict(raw, bias_v=raw["bias_v"] + h))
              - loss_chip(dict(raw, bias_v=raw["bias_v"] - h))) / (2 * h)
        np.testing.assert_allclose(float(jax.grad(loss_chip)(raw)["bias_v"]), float(fd), rtol=1e-4)


@pytest.mark.slow
def test_potts_surrogate_rewards_three_phase_clusters_and_its_gradient_is_exact():
    """``edge_potts`` on relaxation-like waveforms (strong harmonics): -1.5 for a triangle at
    0/120/240 degrees, 0 in phase and in anti-phase, +0.5 for 0/60/120 (edges at 60, 60 and 120
    degrees); through the dynamics its gradient matches finite differences; a bad name is an
    error that names it."""
    t = np.arange(600) * 20.0
    tri = jnp.asarray(1.0 - np.eye(3))[None]
    for deg, want in (([0, 120, 240], -1.5), ([0, 0, 0], 0.0), ([0, 180, 0], 0.0),
                      ([0, 60, 120], 0.5)):
        s = np.mod(t[:, None] / 1000.0 + np.asarray(deg)[None, :] / 360.0, 1.0)
        v = jnp.asarray(1.0 + 0.5 * s**3)[:, None, :]  # (n_t, B=1, 3), period 1000 ns
        assert float(training.edge_potts(v, tri)) == pytest.approx(want, abs=0.06), deg
    config = dataclasses.replace(E.QUICK, t1_ns=3000.0, window_ns=1500.0, dt_ns=20.0, surrogate="potts")
    with jax.enable_x64(True):
        adj = jnp.asarray(graphs.pad([G.wheel_graph(5)])[0])
        raw = training.to_raw(E.DESIGN0)
        key = jax.random.key(3)

        def loss(r):
            return training.surrogate_loss(r, adj, key, config)

        g = jax.grad(loss)(raw)
        for name, h in (("log_coupling_pf", 1e-4), ("bias_v", 1e-4)):
            fd = (loss(dict(raw, **{name: raw[name] + h}))
                  - loss(dict(raw, **{name: raw[name] - h}))) / (2 * h)
            assert abs(float(fd)) > 1e-4, name
            np.testing.assert_allclose(float(g[name]), float(fd), rtol=1e-4, err_msg=name)
        with pytest.raises(ValueError, match="surrogate = 'xy'"):
            training.surrogate_loss(raw, adj, key, dataclasses.replace(config, surrogate="xy"))


@pytest.mark.slow
def test_codesign_under_spread_steps_on_fresh_chips():
    """``codesign(..., spread=)`` descends the surrogate on fabricated chips: a step on chips
    differs from a nominal step from the same key, and is reproducible."""
    config = dataclasses.replace(E.QUICK, t1_ns=3000.0, train_t1_ns=3000.0, window_ns=1500.0,
                                 train_restarts=1)
    adj, _ = graphs.pad([G.cycle_graph(5)])
    nominal, l0 = training.codesign(E.DESIGN0, adj, config, steps=1)
    chips, l1 = training.codesign(E.DESIGN0, adj, config, spread=0.05, steps=1)
    seen = []
    again, l2 = training.codesign(E.DESIGN0, adj, config, spread=0.05, steps=1,
                           callback=lambda *a: seen.append(a))
    assert seen == [(1, again, l2[0])]  # the callback sees each step's design and loss
    assert np.isfinite(l1[0]) and l1[0] != l0[0] and l2 == l1 and again == chips
    assert all(np.isfinite(v) for v in chips.values())
    # (Adam's first step is lr * sign(gradient), so the designs themselves may coincide)
    assert set(chips) == set(nominal)


def test_frequency_spread_of_synthetic_networks():
    ts = np.linspace(0.0, 1000.0, 20001)
    f = np.array([[0.05, 0.05, 0.05], [0.04, 0.05, 0.06]])  # per ns: locked, then 20 % apart
    v = np.sin(2 * np.pi * f[None, :, :] * ts[:, None, None] + 0.3)  # (n_t, 2 networks, 3 nodes)
    cv = frequency_cvs(ts, v, [G.cycle_graph(3)] * 2)
    assert cv[0] < 1e-3
    np.testing.assert_allclose(cv[1], np.std(f[1]) / np.mean(f[1]), rtol=0.02)


def test_graph_network_keeps_the_cells_thermal_noise():
    """The capacitance mixing must not drop the cells' diffusion: noisy cells give an SDE."""
    adj = graphs.pad([G.cycle_graph(5)])[0]
    quiet = network.build_network(adj, E.DESIGN0)
    noisy = network.build_network(adj, E.DESIGN0, noise=0.2)
    y = noisy.init_state((1,), voltage=1.0, temperature=330.0)
    assert quiet.diffusion(0.0, y, None) is None
    g = np.asarray(noisy.diffusion(0.0, y, None))
    assert g.shape == y.shape
    np.testing.assert_allclose(g[:, 1], 0.2)  # on the temperature
    np.testing.assert_allclose(g[:, 0], 0.0)  # not on the node voltages


@pytest.mark.slow
def test_design_search_keeps_the_design_that_colours_the_training_graphs():
    """A grid with a silent bias (3 V: no oscillation, no phases, the readout fails) and an
    oscillating one: the search must score the silent design n + 1 colours, none optimal, and
    keep the other."""
    config = dataclasses.replace(E.QUICK, t1_ns=12000.0, window_ns=6000.0, search_restarts=2,
                  search={"bias_v": [3.0, 6.0]})
    graphs = [("C5", G.cycle_graph(5)), ("C6", G.cycle_graph(6))]
    with jax.enable_x64(True):
        best, score, table = search.design_search(E.DESIGN0, graphs, config, jax.random.key(0))
    scores = {d["bias_v"]: sc for d, sc in table}
    assert set(scores) == {3.0, 6.0}
    assert scores[3.0] == (6.5, 0.0)  # silent: (5 + 1 + 6 + 1) / 2 colours, none optimal
    assert scores[6.0][0] < 6.5 and scores[6.0][1] > 0.0
    assert best["bias_v"] == 6.0 and best["coupling_pf"] == E.DESIGN0["coupling_pf"]
    assert score == scores[6.0]


def test_fabrication_spread_gives_each_chip_its_own_node_biases():
    """One chip per graph: its restarts share the node biases, graphs differ, the relative spread
    is the one asked for, and no spread gives the nominal bias."""
    b = readout.node_biases(4.0, 3, 5, 2, 0.01, seed=0)
    assert b.shape == (6, 5)
    np.testing.assert_array_equal(b[0], b[1])
    assert not np.allclose(b[0], b[2])
    big = readout.node_biases(4.0, 400, 30, 1, 0.01, seed=1)
    assert abs(big.std() / 4.0 - 0.01) < 0.001 and abs(big.mean() - 4.0) < 0.001
    np.testing.assert_array_equal(readout.node_biases(4.0, 2, 3, 2, 0.0, seed=0), 4.0)
    with pytest.raises(ValueError, match="spread = -0.01"):
        readout.evaluate([("C5", G.cycle_graph(5))], E.DESIGN0, jax.random.key(0), E.QUICK, -0.01)


@pytest.mark.slow
def test_bias_spread_reaches_the_oscillators():
    """Nearly uncoupled oscillators (1 fF per edge of C5) on a chip with a 5 % bias spread run at
    different frequencies, ranked like their own biases (a relaxation oscillator charges faster
    at a higher bias); on the nominal chip they share one frequency."""
    from physnn.devices.mott import phase_from_spikes

    config = dataclasses.replace(E.QUICK, restarts=1, t1_ns=20000.0, window_ns=10000.0)
    graphs = [("C5", G.cycle_graph(5))]
    design = dict(E.DESIGN0, bias_v=4.5, coupling_pf=1e-3, equalise=0.0)
    with jax.enable_x64(True):
        _, (ts, v0, _) = readout.evaluate(graphs, design, jax.random.key(0), config)
        _, (_, v1, _) = readout.evaluate(graphs, design, jax.random.key(0), config, 0.05, 0)
    assert frequency_cvs(ts, v0, [graphs[0][1]])[0] < 1e-3
    assert frequency_cvs(ts, v1, [graphs[0][1]])[0] > 0.01
    freq = []
    for j in range(5):
        ph = phase_from_spikes(ts, v1[:, 0, j], 0.5 * (v1[:, 0, j].max() + v1[:, 0, j].min()))
        ok = np.nonzero(~np.isnan(ph))[0]
        freq.append((ph[ok[-1]] - ph[ok[0]]) / (ts[ok[-1]] - ts[ok[0]]))
    biases = readout.node_biases(4.5, 1, 5, 1, 0.05, seed=0)[0]
    np.testing.assert_array_equal(np.argsort(freq), np.argsort(biases))


EXPERIMENT = "parihar2017"  # for the quick_run fixture (conftest.py)


@pytest.mark.slow
def test_quick_run_colours_cycles_and_petersen_optimally(quick_run):
    tmp_path, rec, printed = quick_run
    assert "random_test_optimal_fraction_after" in printed
    assert rec["experiment"] == "parihar2017" and rec["quick"] is True
    for fig in rec["figures"]:
        assert (tmp_path / fig).stat().st_size > 10_000
    m = rec["metrics"]
    for fam in ("cycles", "petersen"):
        assert m[f"{fam}_optimal_fraction_before"] == 1.0
        assert m[f"{fam}_optimal_fraction_after"] == 1.0
    fams = rec["per_family"]
    assert fams["random_test"]["chromatic_number"] == [3.0] * len(fams["random_test"]["graphs"])
    for fam in fams.values():  # no readout may beat the exact chromatic number
        chi = np.asarray(fam["chromatic_number"])[:, None]
        for key in ("oscillator_colours_before", "oscillator_colours_after"):
            cols = np.asarray(fam[key], float)
            ok = ~np.isnan(cols)
            assert np.all(cols[ok] >= np.broadcast_to(chi, cols.shape)[ok])
    assert m["random_test_codesign_gain"] >= 0.0
    assert m["train_loss_last"] < 1.0 and np.isfinite(m["train_loss_first"])
    assert set(rec["design_after"]) == set(rec["design_before"]) == set(rec["design_searched"])
    # the searched design: the grid's best points by the one-run training score are re-scored
    # with the two-stage readout, and the best of those is kept; the gradient steps are kept
    # exactly when they do not raise the (two-stage) training mean colours
    grid = sorted(rec["design_search"], key=lambda r: (r["train_mean_colours"],
                                                       -r["train_fraction_optimal"]))
    reranked = rec["design_rerank"]
    assert m["selection_two_stage"] and len(reranked) == rec["config"]["rerank"]
    assert [r["design"] for r in reranked] == [r["design"] for r in grid[: len(reranked)]]
    top = min(reranked, key=lambda r: (r["train_mean_colours_two_stage"],
                                       -r["train_fraction_optimal_two_stage"]))
    assert all(rec["design_searched"][k] == v for k, v in top["design"].items())
    assert m["train_mean_colours_searched"] == top["train_mean_colours_two_stage"]
    for r, g in zip(reranked, grid, strict=False):  # a second stage only ever removes colours
        assert r["train_mean_colours_two_stage"] <= g["train_mean_colours"]
    assert m["gradient_steps_kept"] == (m["train_mean_colours_gradient"]
                                        <= m["train_mean_colours_searched"])
    # fabrication spread: the robust design is a grid point only if it beats the co-designed
    # design on the training chips, and it is measured nominal and under spread on held-out chips
    rgrid = rec["robust_search"]
    rtop = min(rgrid, key=lambda r: (r["train_mean_colours_spread"],
                                     -r["train_fraction_optimal_spread"]))
    beats = ((rtop["train_mean_colours_spread"], -rtop["train_fraction_optimal_spread"])
             < (m["train_mean_colours_after_spread"], -m["train_fraction_optimal_after_spread"]))
    assert m["robust_design_changed"] == beats
    expect = dict(rec["design_after"], **rtop["design"]) if beats else rec["design_after"]
    assert rec["design_robust"] == pytest.approx(expect)
    for tag in ("after_spread", "robust_spread"):
        assert 0.0 <= m[f"random_test_optimal_fraction_{tag}"] <= 1.0
    # the two-stage readout only ever adds a second run to a restart that missed chi colours:
    # it never uses more colours than the first run, never fewer than chi, and runs at most
    # ``cluster_candidates`` times per such restart
    for stage1, stage2, runs in (("after", "after_two_stage", "second_stage_runs_after"),
                                 ("robust_spread", "robust_spread_two_stage",
                                  "second_stage_runs_robust_spread")):
        missed = 0
        for fam in fams.values():
            chi = np.asarray(fam["chromatic_number"])[:, None]
            c1 = np.asarray(fam[f"oscillator_colours_{stage1}"], float)
            c2 = np.asarray(fam[f"oscillator_colours_{stage2}"], float)
            np.testing.assert_array_equal(np.isnan(c1), np.isnan(c2))
            ok = ~np.isnan(c1)
            assert np.all(c2[ok] <= c1[ok]) and np.all(c2[ok] >= np.broadcast_to(chi, c2.shape)[ok])
            np.testing.assert_array_equal(c2[ok & (c1 == chi)], c1[ok & (c1 == chi)])
            missed += int(np.sum(ok & (c1 > chi)))
        assert 0 <= m[runs] <= rec["config"]["cluster_candidates"] * missed
        assert m[f"random_test_optimal_fraction_{stage2}"] >= m[f"random_test_optimal_fraction_{stage1}"]
