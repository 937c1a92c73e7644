"""Renamed public names keep working for one release: each old name warns with a
DeprecationWarning that names its replacement, gives the very same object, and stays out of
``__all__`` and ``dir()``."""

import importlib

import pytest

# (module, old name, new name as the warning writes it)
ALIASES = [
    ("gtn", "dense", "gtn.emission_graph"),
    ("gtn", "dense_intersect", "gtn.intersect_dense"),
    ("gtn.dense_lattice", "intersect", "gtn.dense_lattice.intersect_dense"),
    ("gtn.dense_lattice", "linear_chain", "gtn.dense_lattice.linear_chain_graphs"),
    ("gtn.dense_lattice", "linear_chain_graph", "gtn.dense_lattice.linear_chain_topology"),
]


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "old", "new"), ALIASES, ids=[f"{m}.{o}" for m, o, _ in ALIASES])
def test_old_name_warns_and_is_the_new_object(module, old, new):
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} is deprecated.*use {new}$"):
        got = getattr(mod, old)
    assert got is _resolve(new)
    assert old not in dir(mod) and old not in getattr(mod, "__all__", [])


def test_from_import_of_an_old_name_warns():
    with pytest.warns(DeprecationWarning, match="gtn.emission_graph"):
        from gtn import dense  # noqa: F401


def test_a_name_that_never_existed_is_still_an_attribute_error():
    import gtn

    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        gtn.no_such_name  # noqa: B018
