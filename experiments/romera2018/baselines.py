"""Digital baselines on the same (F1, F2) and folds: quadratic discriminant analysis and a small
MLP. The better of the two is the experiment's digital ceiling."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .model import N_CLASSES


def qda_fit_predict(xtr, ytr, xte, reg=1e-3):
    """Quadratic discriminant analysis (Gaussian class models, equal priors): fitted on ``xtr``,
    ``ytr`` (standardised by the training set's mean and spread, covariances regularised by
    ``reg``), the classes of ``xte``."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    scores = []
    for c in range(N_CLASSES):
        xc = a[ytr == c]
        m = xc.mean(0)
        cov = np.cov(xc.T) + reg * np.eye(xtr.shape[1])
        inv = np.linalg.inv(cov)
        d = b - m
        scores.append(-0.5 * np.einsum("ni,ij,nj->n", d, inv, d) - 0.5 * np.log(np.linalg.det(cov)))
    return np.argmax(np.stack(scores, 1), 1)


_MLP_OPT = optax.adamw(3e-3, weight_decay=1e-3)


@eqx.filter_jit
def _mlp_step(net, state, a, yt):
    def loss(n):
        return optax.softmax_cross_entropy_with_integer_labels(jax.vmap(n)(a), yt).mean()

    g = eqx.filter_grad(loss)(net)
    u, state = _MLP_OPT.update(g, state, eqx.filter(net, eqx.is_array))
    return eqx.apply_updates(net, u), state


def mlp_fit_predict(xtr, ytr, xte, steps, seed):
    """A small MLP (d-32-32-7, tanh, weight decay) on the standardised formants (d = 2 for (F1, F2)),
    full-batch Adam for ``steps`` steps from initial weights drawn from ``seed``."""
    mu, sd = xtr.mean(0), xtr.std(0)
    a, b = jnp.asarray((xtr - mu) / sd), jnp.asarray((xte - mu) / sd)
    net = eqx.nn.MLP(xtr.shape[1], N_CLASSES, 32, 2, activation=jnp.tanh, key=jax.random.key(seed))
    state = _MLP_OPT.init(eqx.filter(net, eqx.is_array))
    yt = jnp.asarray(ytr)
    for _ in range(steps):
        net, state = _mlp_step(net, state, a, yt)
    return np.asarray(jnp.argmax(jax.vmap(net)(b), -1))
