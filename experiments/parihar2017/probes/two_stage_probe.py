"""Does a second oscillator run on what is left colour the graphs the first run misses? A probe.

After co-design (``records/parihar2017``) the failing runs sit near two-colourings: one colour class
forms a tight phase cluster, the other two overlap about 180 degrees away, so no three arcs of the
phase circle separate them. This probe reads such a state in two physical stages, in the spirit
of the recursive colouring of oscillator Ising machines (Mallick et al., 2020-21):

1. run the network on the whole graph (as the experiment does) and read the phases; if the
   readout (``graphs.phase_colouring``) already 3-colours the graph, stop;
2. otherwise take the tightest phase cluster as one colour class: for every node as anchor, the
   nodes within 60 degrees of its phase, added in order of phase distance while they
   stay independent; the largest such set is the class S;
3. disconnect S (its coupling capacitors switched off) and run the network again, from fresh
   random voltages, on the subgraph induced by the other nodes; read its colours with the same
   readout. The colouring is S plus these, always proper.

The design is ``design_after`` of ``records/parihar2017/results.json``; the graphs are the 24
training graphs of the FULL config (``random_graphs(FULL, "train")``), the initial conditions
those of ``training_score`` (key ``seed + 1``).

The rule, fixed before the first run: the experiment adopts the two-stage readout only if, on the
training graphs, its fraction of graphs 3-coloured by the best of 4 restarts (a restart is stage
1, plus stage 2 where stage 1 fails: at most 8 solves per graph) is strictly above that of the
single-stage readout with 8 restarts (8 solves per graph). The held-out graphs are not run here.

Second question, asked after the first full run with the two-stage readout (87.5 % of the held-out
graphs, 35 of 40; about half of the training graphs' second runs had a rest that is not
bipartite, which no second run can 2-colour): which cluster rule? ``variants`` scores, on the
training graphs from one shared first stage (4 restarts), the cluster width 30, 45, 60 and 90
degrees, each as it is and made maximal (after the cluster, every other node joins the class in
order of phase distance from the anchor while the class stays independent; a larger class can
only remove odd cycles from the rest). The rule, fixed before that run: the variant with the
highest fraction of training graphs 3-coloured by the best of 4 restarts is adopted, ties broken
by the per-restart rate, then by keeping the committed rule (60 degrees, not maximal).

Third question, after the re-run record: the design search and the acceptance of the gradient
steps rank designs by the one-run readout. Would the two-stage readout rank them differently?
``designs`` scores the six best grid points of the record's search and the co-designed design on
the training graphs with the two-stage readout (``training_score``'s initial conditions, 4
restarts). It only measures; if a grid point beat the co-designed design (fraction of training
graphs 3-coloured best of 4, then per restart), the experiment's selection would have to move to
the two-stage score, which its 15-minute budget does not hold as it stands.

A diagnosis for the next step, ``diagnose``: for each second run on the training graphs (the
record's design, as in ``variants``), how the class S compares with the planted colouring: the
planted class holding most of S, how many members of S come from the other two classes
("intruders"), how many nodes of that class S leaves out ("left out"), and whether the rest is
bipartite. It only measures.

``diagnose`` printed on 2026-11-30 (the record's design after ``rerank``): 42 second runs; the
22 with a bipartite rest had on average 2.2 intruders and 0.5 nodes left out (a planted colouring
is not the only 3-colouring, so intruders need not be wrong), the 20 without had 3.5 and 2.7.
Two graphs (10 and 18) fail in all 4 restarts with the same kind of class (5 intruders and 4
left out; 3 and 1). A wrong class is a mix of two planted classes, not a class with a few nodes
missing, so a second run cannot repair it; a better first state is needed.

How much of the held-out figure is the draw of initial voltages? ``seeds K1 K2 ...`` measures the
record's co-designed design on every graph of the experiment (one batch, as ``run`` does) with the
keys K of the initial voltages (the record uses 0; its second runs ``fold_in(key, 2)``), and
prints the held-out fractions of both readouts. It selects nothing. It runs in float32, as the
experiment does; the other modes run in float64 (the experiment's float32 and float64 runs differ
in about a fifth of the runs, README).

``seeds 0 1 2 3 4`` printed on 2026-11-30 (the record after ``rerank``): one-run 0.725, 0.700,
0.775, 0.750, 0.750 (0.740 +- 0.029); two-stage 0.825 at every key. Key 0 reproduces the record.
(A first run with float64 printed 0.850 two-stage at keys 0 and 1.)

Fifth question, after ``diagnose``: a restart whose tightest cluster is a mix of two planted
classes may hold a right class among its other clusters. An exploratory count on the training
graphs' first runs (the record's design, float32, outside this script, with a bipartiteness test
that no readout uses): of the 39 restarts that miss chi colours, the rest left by the tightest
60-degree cluster is bipartite in 19, by one of the 2 largest distinct clusters in 25, of the 3
largest in 27; no cluster of any anchor does it in 11 (8 of them: every restart of graphs 10 and 18). So
``candidates`` scores, from one shared first stage on the training graphs (4 restarts), the
second stage with ``cluster_candidates`` = 1, 2 and 3: every restart that misses runs a second
time for each of its k largest distinct clusters (at most 1 + k solves per restart), and counts
the best. The rule, fixed before that run: adopt the k with the highest fraction of training
graphs 3-coloured by the best of 4 restarts, ties broken by the per-restart rate, then by the
smaller k (fewer solves). It also prints, for the solve budget, the one-run readout with 16
restarts (the solves of 4 restarts at k = 3). It runs in float32, as the experiment does.

``candidates`` printed on 2026-11-30 (the record's design, 2 minutes): k = 1: best of 4 0.875,
per restart 0.792, 39 second runs; k = 2: 0.917, 0.854, 78; k = 3: 0.917, 0.875, 117; the
one-run readout best of 4 0.792, best of 16 0.917, per restart 0.583. By the rule, k = 3. At the
same solve budget the one-run readout with 16 restarts colours as many training graphs (22 of
24); the two-stage readout needs fewer solves where it works (39 of the 96 restarts run again).

After that decision, with the record of ``cluster_candidates`` = 3 (92.5 % held out, 37 of 40):
``heldout`` (float32, 16 one-run restarts of the co-designed design on the held-out graphs)
printed best of 4 0.750, of 8 0.875, of 16 0.925, per restart 0.603; the two-stage record used
9.0 solves per held-out graph on average (66 of 160 restarts ran again, 3 second runs each).
``seeds 0 1 2 3 4`` printed two-stage 0.925, 0.950, 0.925, 0.900, 0.950 (0.930 +- 0.021) and
one-run 0.725, 0.700, 0.775, 0.750, 0.750 (0.740 +- 0.029).

Run from the repository root: ``python -m experiments.parihar2017.probes.two_stage_probe`` (about 1 minute).
``python -m experiments.parihar2017.probes.two_stage_probe heldout`` runs, after the decision, the
single-stage readout with 8 restarts on the 40 held-out graphs (same design, the experiment's key
``seed``), the comparison at equal solves for the experiment's two-stage figure.

What it printed on 2026-11-30, 2 cores, with the design of the record before the two-stage
readout (``design_after`` at 4.010 V; the re-run record has 3.997 V):

- first question: single stage best of 4 0.792, best of 8 0.875 (per restart 0.625); two stages
  best of 4 0.917 (per restart 0.833), 33 second runs, whose rest was bipartite in 0.515 of them;
  by the rule, adopted. Two training graphs stay at 0 of 4.
- ``variants`` (best of 4, per restart, rest bipartite): 30 degrees 0.875, 0.760, 0.303;
  30 maximal 0.917, 0.823, 0.485; 45: 0.875, 0.781, 0.364; 45 maximal 0.875, 0.792, 0.394;
  60 and 60 maximal: 0.917, 0.833, 0.515; 90 and 90 maximal: 0.917, 0.823, 0.485. By the rule the
  committed 60 degrees, not maximal, stays. At 60 and 90 degrees the maximal class gives
  identical figures.

``designs`` (the re-run record of 87.5 %: one-run best of 4; two-stage best of 4, per restart):
co-designed 0.667; 0.875, 0.781. Grid points in the search's order: 4 V 3 pF full trim 0.750;
0.833, 0.594. 3.8 V 10 pF half trim 0.583; 0.792, 0.594. 3.8 V 10 pF full trim 0.792; 0.958,
0.656. 3.7 V 30 pF full trim 0.792; 0.833, 0.604. 4 V 10 pF full trim 0.583; 0.792, 0.625. 4 V
3 pF half trim 0.667; 0.833, 0.542. The third grid point beats the co-designed design on best
of 4 (not per restart), and the two-stage readout reorders the grid, so the experiment now
re-ranks the search's 3 best points with it and judges the gradient steps by it (``rerank``).

With the re-run record's design (``records/parihar2017``, after the adoption; before the re-rank):
``heldout`` printed
best of 4 0.750 and best of 8 0.825 (per restart 0.656) for the one-run readout, against 0.875 for
the experiment's two-stage readout (at most 8 solves per graph).
"""

import dataclasses
import json
import sys
from pathlib import Path

import jax
import numpy as np

import experiments.parihar2017 as E
from experiments.parihar2017 import readout
from experiments.parihar2017.graphs import benchmark_graphs, random_graphs
from physnn.tasks import graphs as G

ROOT = Path(__file__).resolve().parents[3]  # the repository root


def first_runs(cfg, design, train):
    """The 4 restarts of ``training_score``'s initial conditions: (chi, colours (n, 4), phases
    (n 4, nodes))."""
    chi = np.array([G.chromatic_number(a) for _, a in train], float)
    cols4, (_, _, phases) = readout.evaluate(train, design, jax.random.key(cfg.seed + 1),
                                       dataclasses.replace(cfg, restarts=4))
    return chi, cols4, phases


def missed(train, cols4, phases, chi, width_deg=60.0, maximal=False):
    """(graph, restart, adjacency, cluster S, rest) of every restart whose one-run readout missed
    chi colours, as ``second_stage`` picks them."""
    for g, (_, a) in enumerate(train):
        for r in range(4):
            ph = phases[g * 4 + r, : a.shape[0]]
            if not cols4[g, r] > chi[g] or np.isnan(ph).any():
                continue
            s = G.phase_cluster(a, ph, np.deg2rad(width_deg), maximal)
            yield g, r, a, s, np.setdiff1d(np.arange(a.shape[0]), s)


def stage_two(train, design, cfg, cols4, phases, chi, width_deg=60.0, maximal=False):
    """The experiment's ``second_stage`` on these runs (second runs from key ``seed + 2``):
    colours (n, 4), the number of second runs, and the fraction of them whose rest is
    bipartite."""
    two, runs = readout.second_stage(train, design, cols4, phases, chi, jax.random.key(cfg.seed + 2),
                               dataclasses.replace(cfg, restarts=4, cluster_width_deg=width_deg,
                                    cluster_maximal=maximal))
    bip = [G.chromatic_number(a[np.ix_(rest, rest)]) <= 2
           for _, _, a, _, rest in missed(train, cols4, phases, chi, width_deg, maximal)
           if a[np.ix_(rest, rest)].any()]
    return two, runs, (np.mean(bip) if bip else float("nan"))


def best_of(cols, chi):
    """Fraction of graphs coloured with chi colours by their best restart."""
    return np.mean(np.nanmin(np.nan_to_num(cols, nan=np.inf), 1) == chi)


def variants(cfg, design):
    train = random_graphs(cfg, "train")
    chi, cols4, phases = first_runs(cfg, design, train)
    rows = []
    for width_deg in (30, 45, 60, 90):
        for maximal in (False, True):
            two, _, bip = stage_two(train, design, cfg, cols4, phases, chi, width_deg, maximal)
            best, rate = best_of(two, chi), np.mean(two == chi[:, None])
            rows.append((best, rate, width_deg == 60 and not maximal, width_deg, maximal))
            print(f"width {width_deg:3d} deg, maximal {maximal!s:5}: best of 4 {best:.3f}, "
                  f"per restart {rate:.3f}, rest bipartite in {bip:.3f} of the second runs")
    top = max(rows, key=lambda x: (x[0], x[1], x[2]))
    print(f"rule: adopt width {top[3]} deg, maximal {top[4]}")


def candidates(cfg, design):
    train = random_graphs(cfg, "train")
    chi, cols4, phases = first_runs(cfg, design, train)
    key2 = jax.random.key(cfg.seed + 2)
    rows = []
    for k in (1, 2, 3):
        two, runs = readout.second_stage(train, design, cols4, phases, chi, key2,
                                   dataclasses.replace(cfg, restarts=4, cluster_candidates=k))
        best, rate = best_of(two, chi), np.mean(two == chi[:, None])
        rows.append((best, rate, -k))
        print(f"cluster_candidates {k}: best of 4 {best:.3f}, per restart {rate:.3f}; {runs} second runs "
              f"(at most {1 + k} solves per restart)")
    cols16, _ = readout.evaluate(train, design, jax.random.key(cfg.seed + 1),
                                 dataclasses.replace(cfg, restarts=16))
    print(f"one-run readout: best of 4 {best_of(cols4, chi):.3f}, best of 16 {best_of(cols16, chi):.3f}, "
          f"per restart {np.mean(cols16 == chi[:, None]):.3f}")
    top = max(rows)
    print(f"rule: adopt cluster_candidates = {-top[2]}")


def heldout(cfg, design):
    test = random_graphs(cfg, "test")
    chi = np.array([G.chromatic_number(a) for _, a in test])
    cols16, _ = readout.evaluate(test, design, jax.random.key(cfg.seed),
                                 dataclasses.replace(cfg, restarts=16))
    for r in (4, 8, 16):
        best = np.nanmin(np.nan_to_num(cols16[:, :r], nan=np.inf), 1) == chi
        print(f"held out, single stage, best of the first {r} of 16 restarts: {best.mean():.3f}")
    print(f"per restart {np.mean(cols16 == chi[:, None]):.3f}")


def designs(cfg, rec):
    train = random_graphs(cfg, "train")
    grid = sorted(rec["design_search"], key=lambda r: (r["train_mean_colours"],
                                                       -r["train_fraction_optimal"]))[:6]
    todo = [("co-designed", rec["design_after"])] + [
        (", ".join(f"{k}={v:g}" for k, v in r["design"].items()),
         dict(rec["design_searched"], **r["design"])) for r in grid]
    for name, design in todo:
        chi, cols4, phases = first_runs(cfg, design, train)
        two, _, _ = stage_two(train, design, cfg, cols4, phases, chi)
        print(f"{name}: one-run best of 4 {best_of(cols4, chi):.3f}; two-stage best of 4 "
              f"{best_of(two, chi):.3f}, per restart {np.mean(two == chi[:, None]):.3f}")


def diagnose(cfg, design):
    train = random_graphs(cfg, "train")
    n_lo, n_hi = cfg.nodes
    base = 1000 * cfg.seed
    sizes = np.random.default_rng(base).integers(n_lo, n_hi + 1, size=cfg.n_train)
    planted = [G.planted_3_colourable(int(n), cfg.edge_p, base + k)[1] for k, n in enumerate(sizes)]
    chi, cols4, phases = first_runs(cfg, design, train)
    rows = []
    for g, r, a, s, rest in missed(train, cols4, phases, chi):
        counts = np.bincount(planted[g][s], minlength=3)
        major = int(np.argmax(counts))
        intruders = int(counts.sum() - counts[major])
        left_out = int(np.sum(planted[g] == major) - counts[major])
        bip = G.chromatic_number(a[np.ix_(rest, rest)]) <= 2
        rows.append((intruders, left_out, bip))
        print(f"graph {g} restart {r}: |S| {s.size}, intruders {intruders}, left out {left_out}, "
              f"rest bipartite {bip}")
    rows = np.array(rows)
    for bip in (True, False):
        sel = rows[:, 2] == bip
        if sel.any():
            print(f"rest bipartite {bip}: {sel.sum()} runs, mean intruders {rows[sel, 0].mean():.2f}, "
                  f"mean left out {rows[sel, 1].mean():.2f}")


def seeds(cfg, design, keys):
    families = benchmark_graphs(cfg)
    families["random_test"] = random_graphs(cfg, "test")
    everything = [g for gs in families.values() for g in gs]
    test = np.array([i for i, g in enumerate(everything) if g[0].startswith("test")])
    chi = np.array([G.chromatic_number(a) for _, a in everything], float)
    one, two = [], []
    for k in keys:
        key = jax.random.key(k)
        cols, (_, _, phases) = readout.evaluate(everything, design, key, cfg)
        cols2, _ = readout.second_stage(everything, design, cols, phases, chi, jax.random.fold_in(key, 2),
                                  cfg)
        for c, acc in ((cols, one), (cols2, two)):
            acc.append(np.mean(np.nanmin(np.nan_to_num(c[test], nan=np.inf), 1) == chi[test]))
        print(f"key {k}: held out one-run {one[-1]:.3f}, two-stage {two[-1]:.3f}")
    print(f"mean +- sd over {len(keys)} keys: one-run {np.mean(one):.3f} +- {np.std(one, ddof=1):.3f}, "
          f"two-stage {np.mean(two):.3f} +- {np.std(two, ddof=1):.3f}")


def main():
    # the selection modes ran in float64 (their printed figures above); ``seeds`` and
    # ``candidates`` run in float32 (``heldout`` too since it has 16 restarts),
    # as the experiment does through the CLI, so that key 0 reproduces the record
    if sys.argv[1:2] not in (["seeds"], ["candidates"], ["heldout"]):
        jax.config.update("jax_enable_x64", True)
    cfg = E.FULL
    rec = json.loads((ROOT / "records" / "parihar2017" / "results.json").read_text())
    design = rec["design_after"]
    if sys.argv[1:] == ["heldout"]:
        return heldout(cfg, design)
    if sys.argv[1:] == ["variants"]:
        return variants(cfg, design)
    if sys.argv[1:2] == ["seeds"]:
        return seeds(cfg, design, [int(k) for k in sys.argv[2:]])
    if sys.argv[1:] == ["diagnose"]:
        return diagnose(cfg, design)
    if sys.argv[1:] == ["candidates"]:
        return candidates(cfg, design)
    if sys.argv[1:] == ["designs"]:
        return designs(cfg, rec)
    train = random_graphs(cfg, "train")
    chi, cols4, phases = first_runs(cfg, design, train)
    # best of 8 one-run restarts: their own draw (a batch of 8 restarts draws other initial
    # voltages than the 4 of the two-stage readout)
    cols8, _ = readout.evaluate(train, design, jax.random.key(cfg.seed + 1),
                                dataclasses.replace(cfg, restarts=8))
    print(f"single stage: best of 4 {best_of(cols4, chi):.3f}, best of 8 {best_of(cols8, chi):.3f}, "
          f"per restart {np.mean(cols8 == chi[:, None]):.3f}")
    two, runs, bip = stage_two(train, design, cfg, cols4, phases, chi)
    print(f"two stages: best of 4 {best_of(two, chi):.3f}, per restart {np.mean(two == chi[:, None]):.3f}; "
          f"{runs} second runs, rest bipartite in {bip:.3f} of them")
    print("per graph (single 8 / two-stage 4):",
          [(int((cols8[g] == chi[g]).sum()), int((two[g] == chi[g]).sum())) for g in range(len(chi))])
    adopt = best_of(two, chi) > best_of(cols8, chi)
    print(f"rule: two-stage best of 4 {best_of(two, chi):.3f} vs single-stage best of 8 "
          f"{best_of(cols8, chi):.3f} -> {'adopt' if adopt else 'do not adopt'}")


if __name__ == "__main__":
    main()
