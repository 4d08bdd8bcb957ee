"""Spoken digits with coulombe2017's chain: FSDD (the open stand-in for TI-46) through the
drive, a ridge classifier on the synchronously sampled displacements."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import physnn as pn
from physnn.readout import ridge_fit
from physnn.resonators import simulate_checked
from physnn.tasks.fsdd import fsdd_features, fsdd_split, load_fsdd

from .chain import reservoir, ring_down_time_us


def spoken_digits(config, drive_pn, key):
    """FSDD through the chain driven at ``drive_pn`` (pN): accuracy (official split), vs the
    same ridge on the MFCCs."""
    data = load_fsdd()
    x = fsdd_features("mfcc", n_frames=config.fsdd_frames, n_mfcc=13)  # (3000, F, 13)
    train, test = fsdd_split("official", data=data)
    train, test = train[:: config.fsdd_every], test[:: config.fsdd_every]
    mu, sd = x[train].mean(axis=(0, 1)), x[train].std(axis=(0, 1))
    u = (x - mu) / sd
    labels = np.asarray(data.digits)
    idx = np.concatenate([train, test])
    frame = config.fsdd_frame_tau * ring_down_time_us(config)
    dev = reservoir(config, [drive_pn], n_inputs=13, gain=config.fsdd_gain)
    washout = np.zeros((len(idx), 4, 13))  # settle under the bare drive before each word
    drive = pn.SampleAndHold(jnp.asarray(np.concatenate([washout, u[idx]], axis=1)), hold=frame)
    n_sub = max(2, int(np.ceil(frame / config.dt_max_us)))
    traj = simulate_checked(dev, drive, dt=frame / n_sub, saveat="holds", key=key)
    ys = np.asarray(traj.ys)[4:]  # (frames, words, 2, N)
    power = float(np.asarray(jax.vmap(dev.power)(traj.ts, traj.ys, traj.us)).mean())
    feats = np.moveaxis(ys, 1, 0).reshape(len(idx), -1)
    n_tr = len(train)

    def accuracy(f):
        ro = ridge_fit(f[:n_tr], labels[idx[:n_tr]], classify=True)
        return float(np.mean(np.asarray(ro.predict(f[n_tr:])) == labels[idx[n_tr:]]))

    word_time = config.fsdd_frames * frame
    return {"accuracy": accuracy(feats), "accuracy_mfcc_only": accuracy(u[idx].reshape(len(idx), -1)),
            "energy_j": power * word_time * 1e-6, "latency_us": word_time,
            "n_train": int(n_tr), "n_test": int(len(test))}
