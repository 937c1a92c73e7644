"""Issue 14: the dense lattice is exact on the inputs real training produces.

Every criterion x both dtypes x seven kinds of emissions x T, against an independent float64
reference (see :mod:`stress_grid` for the cases, the references and the tolerances). Three
utterances of different lengths per batch; transcripts repeat a label. T up to 1000 here;
5000 and 20000 are marked slow (``make test-all``).
"""

import pytest
import torch

from tests.gtn.dense_lattice import stress_grid as grid

DTYPES = {"float64": torch.float64, "float32": torch.float32}
LENGTHS = [*grid.FAST_T, *(pytest.param(T, marks=pytest.mark.slow) for T in grid.SLOW_T)]


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("kind", grid.KINDS)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("criterion", grid.CRITERIA)
def test_equals_float64_reference(criterion, dtype, kind, T):
    out = grid.evaluate(criterion, DTYPES[dtype], kind, T)
    assert not out.failures, f"{criterion} {dtype} {kind} T={T}: " + "; ".join(out.failures)
