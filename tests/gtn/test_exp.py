"""The kernels' branch-free exp and log agree with numpy to a few ulp, on the ranges the
kernels use them (exp of energy differences <= 0, log of log-sum-exp sums >= 1)."""

import numba as nb
import numpy as np

from gtn._internal.exp import fast_exp, fast_log


@nb.njit
def _exps(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])


@nb.njit
def _logs(x, out):
    for i in range(x.shape[0]):
        out[i] = fast_log(x[i])


def test_fast_exp_equals_numpy_and_is_zero_below_the_range_and_for_nan():
    rng = np.random.default_rng(0)
    x = np.concatenate([-rng.exponential(50.0, 100_000), [0.0, -1e-300, -700.0, -745.0, 5.0]])
    out = np.empty_like(x)
    _exps(x, out)
    want = np.exp(x)
    normal = want > 1e-300
    assert np.allclose(out[normal], want[normal], rtol=4e-16, atol=0)
    special = np.array([-np.inf, np.nan, -800.0, -1e308])
    out = np.empty_like(special)
    _exps(special, out)
    assert out.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_fast_log_equals_numpy_from_one_to_the_largest_float():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            1.0 + rng.random(100_000) * 3.0,  # sums of a few terms
            np.exp(rng.random(10_000) * 700.0),
            [1.0, np.nextafter(1.0, 2.0), np.sqrt(2.0), 2.0, 3.0, 1e300, np.finfo(float).max],
        ]
    )
    out = np.empty_like(x)
    _logs(x, out)
    want = np.log(x)
    assert out[x == 1.0].tolist() == [0.0]
    assert np.all(np.abs(out - want) <= 6e-16 * np.abs(want) + 2e-16)  # 2-3 ulp
