import numpy as np
import pytest
import torch

from apps.check_reading import data
from apps.check_reading.data import prepare


@pytest.fixture(scope="session")
def small_train():
    return data.generate("train", 60, seed=11)


@pytest.fixture(scope="session")
def small_prepared(small_train):
    return prepare(small_train)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)
