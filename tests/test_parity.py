"""The parity task generator (physnn.tasks.parity)."""

import numpy as np
import pytest

from physnn.tasks import bit_error_rate, parity_targets, parity_task


def test_parity_definition():
    bits, p1 = parity_task(200, 1, seed=3)
    np.testing.assert_array_equal(p1, bits)
    _, p3 = parity_task(200, 3, seed=3)
    for k in range(2, 200):
        assert p3[k] == (bits[k] ^ bits[k - 1] ^ bits[k - 2])
    assert p3.dtype == np.int8 and set(np.unique(p3)) <= {0, 1}
    # the same seed gives the same stream for every order
    np.testing.assert_array_equal(parity_task(200, 2, seed=3)[0], bits)
    np.testing.assert_array_equal(parity_targets([1, 1, 0, 1], 2), [1, 0, 1, 1])


def test_parity_balanced_and_error_rate():
    _, p2 = parity_task(20000, 2, seed=0)
    assert abs(p2.mean() - 0.5) < 0.02
    assert bit_error_rate(np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_bits=10, order=0), "order"), (dict(n_bits=2, order=3), "n_bits"),
    (dict(n_bits=10, order=1.5), "order")])
def test_parity_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        parity_task(**kwargs)
    with pytest.raises(ValueError, match="0 or 1"):
        parity_targets([0, 2], 1)


def test_bit_error_rate_refuses_non_finite_scores():
    """NaN > 0.5 is False: a diverged reservoir's NaN scores must not count as answers of 0."""
    with pytest.raises(ValueError, match=r"pred has 1 non-finite scores .* index \(2,\)"):
        bit_error_rate(np.array([0.9, 0.1, np.nan]), np.array([1, 0, 0]))
    assert bit_error_rate(np.array([0.9, 0.1, 0.2]), np.array([1, 0, 0])) == 0.0
