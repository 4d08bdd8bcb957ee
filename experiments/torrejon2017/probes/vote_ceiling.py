"""The ceiling of the per-frame vote on FSDD's official split: the same readout and vote as
torrejon2017 on an idealised reservoir, a digital random-feature expansion
tanh(M s + b) of each frame (no noise, no device limits), for growing numbers of features, beside
the oscillator's own node map at the same sizes.

    python -m experiments.torrejon2017.probes.vote_ceiling [--frames 40] [--nodes 400 1600]

It prints the official-split test accuracy of each (chosen on validation like the experiment).
With no memory across frames (each frame lasts N theta, far longer than the relaxation time),
both classify frames one by one and vote; this measures how far the protocol itself goes."""

from __future__ import annotations

import argparse

import numpy as np

from physnn.tasks.fsdd import fsdd_frames, fsdd_groups, fsdd_problem_inputs, fsdd_problems, wta_scan

from .. import FULL, reservoir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=FULL.n_frames)
    ap.add_argument("--nodes", type=int, nargs="+", default=[400, 1600])
    ap.add_argument("--front-end", default="lyon", choices=["lyon", "mfcc"])
    args = ap.parse_args(argv)
    frames, digits, speakers, reps, _ = fsdd_frames(args.frames, 13, 50, front_end=args.front_end)
    if args.front_end == "lyon":
        frames = np.log(frames + 1e-6)
    groups, n_groups = fsdd_groups(speakers, reps)
    probs = {"official": fsdd_problems(speakers, reps)["official"]}
    x = fsdd_problem_inputs(frames, probs)["official"]
    rng = np.random.default_rng(0)
    print(f"FSDD official split, {args.front_end} front end, {args.frames} frames; per-frame "
          "ridge and vote, point and penalty chosen on validation")
    for n in args.nodes:
        w = rng.normal(size=(n, x.shape[-1])) / np.sqrt(x.shape[-1])
        b = rng.normal(size=n)
        summ, _ = wta_scan([{}], lambda _, v, w=w, b=b: np.tanh(v @ w.T + b).astype(np.float32),
                           {"official": x}, digits, groups, n_groups, probs, FULL.rel_alphas)
        print(f"  digital tanh features, {n:5d}: accuracy {1 - summ['official']['test_wer']:.4f}",
              flush=True)
        mask = reservoir.make_mask(n, x.shape[-1], 0)
        dev = reservoir.oscillator(FULL, 7.5, 2.0)
        summ, _ = wta_scan([{}], lambda _, v, d=dev, m=mask: reservoir.map_states(d, v, m, FULL.theta_ns),
                           {"official": x}, digits, groups, n_groups, probs, FULL.rel_alphas)
        print(f"  oscillator (7.5 mA, dI 2 mA), {n:5d} nodes: accuracy "
              f"{1 - summ['official']['test_wer']:.4f}", flush=True)


if __name__ == "__main__":
    main()
