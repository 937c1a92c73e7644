"""Renamed public names keep working for one release: each old name warns with a
DeprecationWarning that names its replacement, gives the very same object, and stays out of
``__all__`` and ``dir()``."""

import importlib
import math

import numpy as np
import pytest
import torch

# (module, old name, new name as the warning writes it)
ALIASES = [
    ("gtn", "dense", "gtn.emission_graph"),
    ("gtn", "dense_intersect", "gtn.intersect_dense"),
    ("gtn.dense_lattice", "intersect", "gtn.dense_lattice.intersect_dense"),
    ("gtn.dense_lattice", "linear_chain", "gtn.dense_lattice.linear_chain_graphs"),
    ("gtn.dense_lattice", "linear_chain_graph", "gtn.dense_lattice.linear_chain_topology"),
    ("decoders.posteriors", "free_energy", "decoders.posteriors.free_energy_value"),
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


def _decoding_graph():
    import gtn

    # outputs 5 then 7 on two frames, or 6 on one frame then nothing on the other
    return gtn.Graph.from_arrays(
        3, [0, 1, 0, 1], [1, 2, 1, 2], [0, 1, 1, 0], [5, 7, 6, gtn.EPSILON], final=[2]
    )


EMISSIONS = torch.tensor([[0.0, 1.0], [2.0, 0.5]], dtype=torch.float64)


def test_decode_nbest_keyword_warns_and_means_num_hypotheses():
    import decoders

    g = _decoding_graph()
    want = decoders.decode(EMISSIONS, g, beam=math.inf, num_hypotheses=2)
    with pytest.warns(DeprecationWarning, match=r"decode\(nbest=\.\.\.\).*use num_hypotheses="):
        got = decoders.decode(EMISSIONS, g, beam=math.inf, nbest=2)
    assert len(want.hypotheses) == 2
    assert got.hypotheses == want.hypotheses


def test_decode_lattice_nbest_keyword_warns_and_means_num_hypotheses():
    import decoders

    r = decoders.decode(EMISSIONS, _decoding_graph(), beam=math.inf, lattice=True)
    want = decoders.decode_lattice(r.lattice, num_hypotheses=2)
    with pytest.warns(DeprecationWarning, match="use num_hypotheses="):
        got = decoders.decode_lattice(r.lattice, nbest=2)
    assert len(want.hypotheses) == 2 and got.hypotheses == want.hypotheses


def test_both_keywords_at_once_is_a_type_error():
    import decoders

    with pytest.raises(TypeError, match="both num_hypotheses= and its deprecated name nbest="):
        decoders.decode(EMISSIONS, _decoding_graph(), nbest=1, num_hypotheses=1)


def test_decode_result_nbest_attribute_warns_and_is_the_hypotheses_list():
    import decoders

    r = decoders.decode(EMISSIONS, _decoding_graph(), beam=math.inf, num_hypotheses=2)
    with pytest.warns(DeprecationWarning, match=r"DecodeResult\.nbest .*use hypotheses$"):
        old = r.nbest
    assert old is r.hypotheses


def test_speech_recognizer_nbest_keyword_and_attribute_warn():
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    top = Topology("ctc")
    torch.manual_seed(0)
    rec = SpeechRecognizer(TDNN(top.num_columns, width=8), top)
    audio = np.random.default_rng(0).standard_normal(8000) * 0.1
    with pytest.warns(DeprecationWarning, match=r"recognize\(nbest=\.\.\.\).*num_hypotheses="):
        (r,) = rec.recognize([audio], 16000, nbest=2)
    assert 1 <= len(r.hypotheses) <= 2  # the keyword reached the decoder (default 0: none)
    with pytest.warns(DeprecationWarning, match=r"Recognition\.nbest .*use hypotheses$"):
        old = r.nbest
    assert old is r.hypotheses
