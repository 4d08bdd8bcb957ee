"""The scans of appeltant2011: NARMA10 over (eta, gamma) at the paper's theta and over theta as a
third axis, Santa Fe one-step prediction; operating points chosen on validation data."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from physnn.readout import nmse
from physnn.tasks import narma10, santafe_one_step

from .reservoir import continuous_dt, fit_eval, make_mask, make_node, node_features


def narma_data(config):
    """The NARMA10 series (input u, target y) and its fit, validation, train and test slices."""
    w, n_tr, n_te = config.narma_washout, config.narma_train, config.narma_test
    u, y = narma10(w + n_tr + n_te, seed=config.seed, washout=200)
    fit = slice(w, w + n_tr - config.narma_val)
    val = slice(w + n_tr - config.narma_val, w + n_tr)
    train = slice(w, w + n_tr)
    test = slice(w + n_tr, w + n_tr + n_te)
    return u, y, fit, val, train, test



def validation_grid(config, u, y, fit, val, theta, etas, gammas, desync, bar):
    """Validation NRMSE over (eta, gamma) at one theta (NaN where the node diverged)."""
    mask = make_mask(config)
    grid = np.full((len(etas), len(gammas)), np.nan)
    for i, eta in enumerate(etas):
        for j, gamma in enumerate(gammas):
            try:
                x = node_features(make_node(config, eta, gamma, desync, theta), u, mask, theta)
                grid[i, j] = fit_eval(x, y, fit, val)[0]
            except FloatingPointError:
                pass  # left as NaN on the map: the node diverged
            bar.update()
    return grid



def narma_scan(config, progress=True):
    """The two NARMA10 scans, the test NRMSE at their best points (map and continuous
    integrator) and the linear baseline."""
    u, y, fit, val, train, test = narma_data(config)
    mask = make_mask(config)
    d = config.desync
    n_a = len(config.etas) * len(config.gammas)
    n_b = len(config.thetas) * len(config.etas_theta) * len(config.gammas_theta)
    bar = tqdm(total=n_a + n_b, desc="appeltant2011: NARMA10 scans", leave=False,
               disable=not progress)
    # A: the paper's theta = 0.2, over (eta, gamma)
    grid_a = validation_grid(config, u, y, fit, val, config.theta, config.etas, config.gammas, d, bar)
    i, j = np.unravel_index(np.nanargmin(grid_a), grid_a.shape)
    best_a = {"theta": config.theta, "eta": config.etas[i], "gamma": config.gammas[j]}
    # B: theta (node spacing in units of the response time) as a third axis
    grids_b = {}
    best_b, best_val = None, np.inf
    for theta in config.thetas:
        g = validation_grid(config, u, y, fit, val, theta, config.etas_theta, config.gammas_theta, d, bar)
        grids_b[theta] = g
        if np.nanmin(g) < best_val:
            best_val = float(np.nanmin(g))
            i, j = np.unravel_index(np.nanargmin(g), g.shape)
            best_b = {"theta": theta, "eta": config.etas_theta[i], "gamma": config.gammas_theta[j]}
    bar.close()
    out = {"grid_paper_theta": grid_a, "grids_theta": grids_b, "best_paper_theta": best_a,
           "best": dict(best_b, desync=d, val_nrmse=best_val)}
    for tag, b in (("paper", best_a), ("best", best_b)):
        node = make_node(config, b["eta"], b["gamma"], d, b["theta"])
        x = node_features(node, u, mask, b["theta"])
        out[f"test_map_{tag}"], pred = fit_eval(x, y, train, test)
        xc = node_features(node, u, mask, b["theta"], continuous=True,
                           dt=continuous_dt(b["theta"], config.dt_max))
        out[f"test_continuous_{tag}"], pred_c = fit_eval(xc, y, train, test)
        if tag == "best":
            out["pred"], out["pred_continuous"] = pred, pred_c
    # linear baseline: ridge on the last 20 inputs
    lags = np.stack([np.concatenate([np.zeros(k), u[:len(u) - k]]) for k in range(20)], axis=1)
    out["linear"] = fit_eval(lags, y, train, test)[0]
    out["target"] = y[test]
    return out



def santafe(config, progress=True):
    """Santa Fe one-step prediction: (eta, gamma) chosen on validation, tested through the
    continuous integrator."""
    s = santafe_one_step(config.santafe_train, config.santafe_test)
    u = np.concatenate([s.u_train, s.u_test])
    y = np.concatenate([s.y_train, s.y_test])
    w, n_tr = s.washout, config.santafe_train
    n_val = n_tr // 5
    fit, val = slice(w, w + n_tr - n_val), slice(w + n_tr - n_val, w + n_tr)
    train, test = slice(w, w + n_tr), slice(w + n_tr, len(u))
    mask = make_mask(config)
    best = (np.inf, None)
    for eta in tqdm(config.santafe_etas, desc="appeltant2011: Santa Fe scan", leave=False,
                    disable=not progress):
        for gamma in config.santafe_gammas:
            try:
                x = node_features(make_node(config, eta, gamma, 1), u, mask, config.theta)
            except FloatingPointError:
                continue
            v = fit_eval(x, y, fit, val, nmse)[0]
            if v < best[0]:
                best = (v, (eta, gamma))
    eta, gamma = best[1]
    node = make_node(config, eta, gamma, 1)
    x = node_features(node, u, mask, config.theta, continuous=True)
    test_nmse, pred = fit_eval(x, y, train, test, nmse)
    return {"eta": eta, "gamma": gamma, "test_nmse": test_nmse, "pred": pred, "target": y[test]}
