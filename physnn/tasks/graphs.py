r"""Graph vertex colouring: benchmark graphs, exact and greedy colourings, phase-order readout.

A colouring of a graph $G = (V, E)$ is a map $c: V \to \{0, \dots, k-1\}$ with $c(i) \ne c(j)$ for
every edge $(i, j) \in E$; the least such $k$ is the chromatic number $\chi(G)$. Graphs are given as
symmetric 0/1 adjacency matrices (NumPy), shape ``(n, n)``, zero diagonal.

Benchmark families (Parihar et al., Sci. Rep. 7, 911 (2017) colour cycles, wheels, the Petersen
graph and random graphs with oscillators):

- ``cycle_graph(n)``: $C_n$; $\chi$ = 2 (n even) or 3 (n odd).
- ``petersen_graph()``: 10 nodes, 15 edges, 3-regular; $\chi$ = 3.
- ``wheel_graph(n_rim)``: a hub joined to every node of $C_{n_\mathrm{rim}}$; $\chi$ = 3 (rim
  even) or 4 (rim odd).
- ``planted_3_colourable(n, p, seed)``: nodes split into three near-equal groups, every pair of
  nodes in different groups joined with probability ``p``; 3-colourable by construction, redrawn
  until connected and not bipartite (so $\chi$ = 3 exactly).

Colourings:

- ``greedy_colouring(adj, order)``: first fit along ``order`` (each node takes the smallest colour
  that none of its already coloured neighbours has). Every order gives a proper colouring; some
  order gives an optimal one, so the quality of a colouring heuristic is the quality of its order.
- ``phase_order_colouring(adj, phases)``: Parihar's post-processing: sort the nodes by oscillator
  phase (on the circle, starting after the widest gap between consecutive phases) and colour
  first fit along that order.
- ``arc_colouring(adj, order)``: the fewest contiguous arcs of the circular order, each an
  independent set, one colour per arc: how a phase state of k clusters reads as k colours.
- ``order_colouring(adj, order)`` / ``phase_colouring(adj, phases)``: of the two above along one
  order, the colouring with fewer colours. Along a random order the arcs hardly ever win; along
  a phase order of clustered oscillators they can, where a late node in the order makes first fit
  open a fourth colour.
- ``phase_cluster(adj, phases, width)``: the largest independent set gathered around one
  oscillator's phase, read as one colour class; the first step of the two-stage readout of the
  colouring experiment, which runs the oscillators again on the nodes left.
  ``phase_clusters(adj, phases, width, count)`` gives the ``count`` largest distinct ones.
- ``chromatic_number(adj)``: exact, by backtracking (DSATUR order) for increasing $k$; fine for the
  sparse graphs of up to a few tens of nodes used here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_adjacency",
    "cycle_graph",
    "petersen_graph",
    "wheel_graph",
    "planted_3_colourable",
    "greedy_colouring",
    "largest_first_order",
    "phase_order",
    "phase_order_colouring",
    "arc_colouring",
    "order_colouring",
    "phase_colouring",
    "phase_cluster",
    "phase_clusters",
    "is_proper",
    "n_colours",
    "chromatic_number",
]


def check_adjacency(adj, name: str = "adjacency") -> np.ndarray:
    """Validate a graph for colouring and return it as a float 0/1 array.

    Raises ``ValueError`` naming ``name``, the offending value and what is expected when the matrix
    is not square, is empty (no nodes or no edges), is not symmetric, has self-loops or entries
    other than 0 and 1."""
    a = np.asarray(adj, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} has shape {a.shape}; expected a square (n, n) adjacency matrix")
    if a.shape[0] == 0:
        raise ValueError(f"{name} has shape {a.shape}: an empty graph (no nodes); expected at "
                         "least two nodes joined by an edge")
    if not np.all(np.isfinite(a)) or not np.all((a == 0) | (a == 1)):
        bad = a[~((a == 0) | (a == 1))]
        raise ValueError(f"{name} has entries {np.unique(bad)[:5]}; expected 0 or 1 "
                         "(unweighted graph)")
    if np.any(np.diag(a) != 0):
        i = int(np.nonzero(np.diag(a))[0][0])
        raise ValueError(f"{name}[{i}, {i}]={a[i, i]:g}: a self-loop; expected a zero diagonal "
                         "(a node joined to itself cannot be coloured)")
    if not np.array_equal(a, a.T):
        i, j = (int(x[0]) for x in np.nonzero(a != a.T))
        raise ValueError(f"{name}[{i}, {j}]={a[i, j]:g} but {name}[{j}, {i}]={a[j, i]:g}; "
                         "expected a symmetric matrix (undirected graph, symmetric coupling)")
    if not np.any(a):
        raise ValueError(f"{name} of shape {a.shape} has no edges: an empty graph; expected at "
                         "least one edge (every colouring of an edgeless graph is trivial)")
    return a


def _from_edges(n: int, edges) -> np.ndarray:
    a = np.zeros((n, n))
    for i, j in edges:
        a[i, j] = a[j, i] = 1.0
    return a


def cycle_graph(n: int) -> np.ndarray:
    """The cycle $C_n$ (n >= 3)."""
    if int(n) < 3:
        raise ValueError(f"cycle_graph: n={n}; expected n >= 3")
    return _from_edges(n, [(i, (i + 1) % n) for i in range(n)])


def petersen_graph() -> np.ndarray:
    """The Petersen graph: outer 5-cycle 0..4, inner pentagram 5..9, spokes i -- i+5."""
    edges = [(i, (i + 1) % 5) for i in range(5)] + [(5 + i, 5 + (i + 2) % 5) for i in range(5)]
    return _from_edges(10, edges + [(i, i + 5) for i in range(5)])


def wheel_graph(n_rim: int) -> np.ndarray:
    """The wheel: hub node 0 joined to every node of the rim cycle 1..n_rim (n_rim >= 3)."""
    if int(n_rim) < 3:
        raise ValueError(f"wheel_graph: n_rim={n_rim}; expected n_rim >= 3")
    rim = [(1 + i, 1 + (i + 1) % n_rim) for i in range(n_rim)]
    return _from_edges(n_rim + 1, rim + [(0, 1 + i) for i in range(n_rim)])


def _connected(a: np.ndarray) -> bool:
    seen, stack = {0}, [0]
    while stack:
        for j in np.nonzero(a[stack.pop()])[0]:
            if j not in seen:
                seen.add(int(j))
                stack.append(int(j))
    return len(seen) == a.shape[0]


def planted_3_colourable(n: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random graph with a planted 3-colouring: returns ``(adj, planted_colours)``.

    Nodes are shuffled into three groups of sizes differing by at most one; each pair of nodes in
    different groups is an edge with probability ``p``. Draws are repeated (same seed stream) until
    the graph is connected and not bipartite, so its chromatic number is exactly 3."""
    if int(n) < 3 or not 0.0 < p <= 1.0:
        raise ValueError(f"planted_3_colourable: n={n}, p={p}; expected n >= 3 and 0 < p <= 1")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        colours = rng.permutation(np.arange(n) % 3)
        upper = np.triu(rng.random((n, n)) < p, 1) & (colours[:, None] != colours[None, :])
        a = (upper | upper.T).astype(float)
        if _connected(a) and _two_colouring(a) is None:
            return a, colours
    raise RuntimeError(f"planted_3_colourable: no connected non-bipartite graph for n={n}, p={p}")


def greedy_colouring(adj, order=None) -> np.ndarray:
    """First-fit colouring along ``order`` (default: node index order); colours 0, 1, ..."""
    a = np.asarray(adj) > 0
    n = a.shape[0]
    order = np.arange(n) if order is None else np.asarray(order)
    colours = np.full(n, -1)
    for i in order:
        used = set(colours[a[i] & (colours >= 0)].tolist())
        c = 0
        while c in used:
            c += 1
        colours[i] = c
    return colours


def largest_first_order(adj) -> np.ndarray:
    """Nodes by decreasing degree (ties by index): the Welsh–Powell order."""
    deg = np.asarray(adj).sum(1)
    return np.lexsort((np.arange(deg.size), -deg))


def phase_order(phases) -> np.ndarray:
    """Nodes sorted by phase on the circle, starting after the widest gap between neighbours."""
    ph = np.mod(np.asarray(phases, float), 2 * np.pi)
    idx = np.argsort(ph, kind="stable")
    s = ph[idx]
    gaps = np.diff(np.concatenate([s, [s[0] + 2 * np.pi]]))
    start = (int(np.argmax(gaps)) + 1) % s.size
    return np.roll(idx, -start)


def phase_order_colouring(adj, phases) -> np.ndarray:
    """Parihar's readout: first-fit colouring along the phase order (:func:`phase_order`)."""
    return greedy_colouring(adj, phase_order(phases))


def arc_colouring(adj, order) -> np.ndarray:
    """Cut the circular ``order`` into as few contiguous arcs as possible, each an independent
    set, and colour every arc with its own colour.

    This is how a phase state with k clusters reads as k colours: the nodes of one sector of the
    circle share a colour. For a start on the circle, closing an arc at the first node that has a
    neighbour in it is optimal (independence is kept by every sub-arc); the first start with the
    fewest arcs over all rotations is returned. Always a proper colouring.

    The longest independent arc from every position is found once with two pointers (an arc that
    is independent stays so when its first node leaves), so all n rotations cost O(n^2)."""
    a = np.asarray(adj) > 0
    order = np.asarray(order)
    n = order.size
    oo = np.tile(order, 3)
    reach = np.empty(2 * n, int)  # reach[i]: the end of the longest independent arc oo[i:reach[i]]
    hits = np.zeros(a.shape[0], int)  # neighbours of each node inside the current arc
    j = 0
    for i in range(2 * n):
        j = max(j, i)
        while j < i + n and hits[oo[j]] == 0:
            hits += a[oo[j]]
            j += 1
        reach[i] = j
        if j > i:
            hits -= a[oo[i]]
    best_s, best_k = 0, n + 1
    for s in range(n):
        p, k = s, 0
        while p < s + n:
            p, k = min(reach[p], s + n), k + 1
        if k < best_k:
            best_s, best_k = s, k
    colours = np.full(a.shape[0], -1)
    p, c = best_s, 0
    while p < best_s + n:
        q = min(reach[p], best_s + n)
        colours[oo[p:q]] = c
        p, c = q, c + 1
    return colours


def order_colouring(adj, order) -> np.ndarray:
    """Of first fit along ``order`` (:func:`greedy_colouring`) and the arcs of ``order`` read as a
    circle (:func:`arc_colouring`), the colouring with fewer colours (first fit on a tie)."""
    ff, arcs = greedy_colouring(adj, order), arc_colouring(adj, order)
    return arcs if n_colours(arcs) < n_colours(ff) else ff


def phase_colouring(adj, phases) -> np.ndarray:
    """The readout of the colouring experiment: :func:`order_colouring` along the phase order,
    i.e. Parihar's first fit (:func:`phase_order_colouring`) or the sectors of the phase circle,
    whichever uses fewer colours."""
    return order_colouring(adj, phase_order(phases))


def phase_cluster(adj, phases, width: float = np.pi / 3, maximal: bool = False) -> np.ndarray:
    """The tightest phase cluster of an oscillator state, as one independent set (colour class).

    For every node as anchor, the nodes within ``width`` (rad) of its phase on the circle are
    taken in order of phase distance, each one kept if it has no neighbour among those kept; the
    largest such set over all anchors is returned (node indices, sorted by distance to its anchor;
    ties go to the lower anchor). Silent oscillators (NaN phase) are never taken. ``maximal``:
    then every other node joins, in order of phase distance from the anchor, while the set stays
    independent (a maximal independent set). The first of :func:`phase_clusters`."""
    return phase_clusters(adj, phases, width, 1, maximal)[0]


def phase_clusters(adj, phases, width: float = np.pi / 3, count: int = 1,
                   maximal: bool = False) -> list[np.ndarray]:
    """The ``count`` largest distinct phase clusters of an oscillator state (see
    :func:`phase_cluster`): the clusters gathered around every anchor, duplicates dropped, largest
    first, ties in the order of their first anchor. Fewer than ``count`` when the state has fewer
    distinct clusters; one empty cluster when every oscillator is silent. ``maximal`` extends
    each of them, after they are chosen, to a maximal independent set around its anchor."""
    a = np.asarray(adj) > 0
    ph = np.asarray(phases, float)
    if not (np.isfinite(width) and 0 < width <= np.pi):
        raise ValueError(f"phase_cluster: width = {width!r}; expected a phase half-width in (0, pi] rad")
    if ph.shape != (a.shape[0],):
        raise ValueError(f"phase_cluster: phases has shape {ph.shape}; expected ({a.shape[0]},), "
                         "one phase per node")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"phase_clusters: count = {count!r}; expected an integer >= 1")

    def gather(i, limit, members):
        d = np.abs(np.angle(np.exp(1j * (ph - ph[i]))))
        d[~np.isfinite(d)] = np.inf
        for j in np.argsort(d, kind="stable"):
            if d[j] >= limit:
                break
            if j not in members and not a[j, members].any():
                members.append(int(j))
        return members

    found, seen = [], set()
    for i in np.nonzero(np.isfinite(ph))[0]:
        members = gather(i, width, [])
        if frozenset(members) not in seen:
            seen.add(frozenset(members))
            found.append((i, members))
    found.sort(key=lambda f: len(f[1]), reverse=True)  # stable: ties keep their anchors' order
    if maximal:
        found = [(i, gather(i, np.inf, m)) for i, m in found[:count]]
    return [np.asarray(m, int) for _, m in found[:count]] or [np.zeros(0, int)]


def is_proper(adj, colours) -> bool:
    a = np.asarray(adj) > 0
    c = np.asarray(colours)
    return bool(not np.any(a & (c[:, None] == c[None, :])))


def n_colours(colours) -> int:
    return int(np.unique(np.asarray(colours)).size)


def _two_colouring(a: np.ndarray):
    n = a.shape[0]
    c = np.full(n, -1)
    for s in range(n):
        if c[s] >= 0:
            continue
        c[s], stack = 0, [s]
        while stack:
            i = stack.pop()
            for j in np.nonzero(a[i])[0]:
                if c[j] < 0:
                    c[j] = 1 - c[i]
                    stack.append(int(j))
                elif c[j] == c[i]:
                    return None
    return c


def _k_colourable(a: np.ndarray, k: int) -> bool:
    n = a.shape[0]
    nbrs = [np.nonzero(a[i])[0] for i in range(n)]
    colours = np.full(n, -1)

    def pick():  # DSATUR: the uncoloured node with the most distinct neighbour colours
        best, key = -1, (-1, -1)
        for i in range(n):
            if colours[i] < 0:
                c = colours[nbrs[i]]
                kk = (len(set(c[c >= 0].tolist())), len(nbrs[i]))
                if kk > key:
                    best, key = i, kk
        return best

    def solve(n_done: int) -> bool:
        if n_done == n:
            return True
        i = pick()
        used = set(colours[nbrs[i]].tolist())
        top = colours.max() + 1  # symmetry: at most one brand-new colour
        for c in range(min(k, top + 1)):
            if c not in used:
                colours[i] = c
                if solve(n_done + 1):
                    return True
                colours[i] = -1
        return False

    return solve(0)


def chromatic_number(adj) -> int:
    """The exact chromatic number $\\chi$ (backtracking; small graphs)."""
    a = check_adjacency(adj)
    if _two_colouring(a) is not None:
        return 2
    k = 3
    while not _k_colourable(a, k):
        k += 1
    return k
