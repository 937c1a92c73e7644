import pytest
import torch

from apps.speech import corpus
from apps.speech.api import SpeechRecognizer
from apps.speech.data import prepare
from apps.speech.graphs import Topology
from apps.speech.network import TDNN
from apps.speech.train import train

TINY = corpus.CorpusSettings(max_digits=2, speakers=2, min_rate=150, max_rate=170)


@pytest.fixture(scope="session")
def tiny_corpus():
    """12 utterances of 1-2 digits from 2 training speakers."""
    return corpus.generate("train", 12, seed=0, settings=TINY, workers=1)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_corpus):
    return prepare(tiny_corpus)


@pytest.fixture(scope="session")
def tiny_recognizer(tiny_prepared):
    """A small MMI recogniser trained for a few seconds on the tiny corpus."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    topology = Topology("hmm", states_per_word=3)
    model = TDNN(topology.num_columns, width=32)
    history = train(model, topology, tiny_prepared, "mmi", epochs=6, batch_size=2, lr=5e-3,
                    progress=False)  # fmt: skip
    return SpeechRecognizer(model, topology), history


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A synthetic test-split data directory of 4 utterances of 2 speakers, written by
    `ebgtn speech generate`."""
    from apps.speech.cli import main

    tmp = tmp_path_factory.mktemp("generated")
    argv = ["generate", "--split", "test", "--utterances", "4", "--speakers", "2", "--quiet"]
    assert main([*argv, "--cache-dir", str(tmp / "cache"), "--data-dir", str(tmp / "data")]) == 0
    return tmp / "data"
