"""The amount prior: branch statistics of training amounts, weighed into both readers'
lattices when they read, and kept in their checkpoints."""

import itertools

import numpy as np
import pytest
import torch

import gtn
from apps._common.checkpoint import CheckpointError
from apps.check_reading import CheckReader
from apps.check_reading.amounts import (
    ALPHABET,
    NUM_BRANCHES,
    PRIOR_WEIGHT,
    encode,
    grammar,
    is_valid_amount,
    prior_energies,
    sample_amount,
    shape_counts,
)
from apps.check_reading.api import answer_log_posteriors
from apps.check_reading.model import CheckReaderModel
from apps.check_reading.network import NUM_LABELS
from apps.check_reading.sdnn import SdnnReader
from apps.check_reading.segment import segment
from factors.checkpoint import read_checkpoint, write_checkpoint


def sampled_counts(n: int = 4000, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return shape_counts([sample_amount(rng) for _ in range(n)])


def amounts_up_to(length: int) -> list[str]:
    return [
        "".join(t)
        for n in range(1, length + 1)
        for t in itertools.product(ALPHABET, repeat=n)
        if is_valid_amount("".join(t))
    ]


def test_prior_energy_by_hand():
    counts = shape_counts(["$12.50", "7", "1,000"])
    assert len(counts) == NUM_BRANCHES and sum(counts) == 6 + 1 + 5 + 3  # chars + ends
    g = grammar(counts)
    # "7": from the start, 2 of 3 amounts went to a first nonzero digit (branches of S:
    # "$", "*", "0", 1-9; add-one: 3/7); after one digit, 1 of 3 ended (",", digit, ".",
    # end; add-one: 2/7)
    expected = PRIOR_WEIGHT * -np.log(3 / 7 * 2 / 7)
    energies = prior_energies(g, [encode("7"), encode("1,0"), []])
    assert energies[0] == pytest.approx(expected, rel=1e-6)
    assert energies[1:].tolist() == [np.inf, np.inf]  # not amounts
    assert prior_energies(grammar(), [encode("$12.50")]).tolist() == [0.0]
    with pytest.raises(ValueError, match="'1,0' is not an amount"):
        shape_counts(["7", "1,0"])
    with pytest.raises(ValueError, match=f"{NUM_BRANCHES} non-negative integers, got 3"):
        grammar([1, 2, 3])


def test_prior_estimates_the_sampling_distribution():
    """sample_amount writes "$" half the time and a "*" fill 15% of the time: the prior's
    branches at the start, read back as probabilities, say so."""
    g = grammar(sampled_counts())
    p = {
        char: np.exp(
            -float(g.weight[np.flatnonzero((g.src == 0) & (g.ilabel == k))[0]]) / PRIOR_WEIGHT
        )
        for char, k in (("$", ALPHABET.index("$")), ("*", ALPHABET.index("*")))
    }
    assert p["$"] == pytest.approx(0.5, abs=0.03)
    assert p["*"] == pytest.approx(0.5 * 0.15, abs=0.02)  # no "$" first, then a fill


def test_every_state_spreads_probability_one_over_its_branches():
    g = grammar(sampled_counts(500))
    src, dst = np.asarray(g.src), np.asarray(g.dst)
    weight = g.weight.detach().double().numpy()
    final = g.final_weight.detach().double().numpy()
    for q in range(g.num_nodes):
        groups = {int(d): weight[(src == q) & (dst == d)] for d in set(dst[src == q].tolist())}
        for w in groups.values():
            assert np.all(w == w[0])  # the digits of a branch share its energy
        p = sum(np.exp(-w[0] / PRIOR_WEIGHT) for w in groups.values())
        p += np.exp(-final[q] / PRIOR_WEIGHT) if np.isfinite(final[q]) else 0.0
        assert p == pytest.approx(1.0, abs=1e-5), q


def test_segmenting_posteriors_with_the_prior_sum_to_one_and_shift_by_its_energy():
    image = np.full((40, 70), 255, np.uint8)
    image[8:32, 10:12] = 0
    image[10:30, 40:42] = 0
    seg = segment(image)
    amounts = amounts_up_to(2)
    counts = sampled_counts(300)
    torch.manual_seed(1)
    plain = CheckReaderModel().eval()
    weighted = CheckReaderModel(plain.recognizer, prior=counts).eval()
    segs = [seg] * len(amounts)
    log_plain = answer_log_posteriors(plain, segs, amounts)
    log_weighted = answer_log_posteriors(weighted, segs, amounts)
    assert np.exp(log_weighted).sum() == pytest.approx(1.0, abs=1e-5)
    # P_prior(Y) is P(Y) exp(-prior(Y)) renormalised: the difference is one constant
    readable = np.isfinite(log_plain)
    shift = log_weighted + prior_energies(grammar(counts), [encode(a) for a in amounts])
    shift = (shift - log_plain)[readable]
    assert readable.sum() > 50 and np.ptp(shift) < 1e-4


def sdnn_log_posteriors(reader: SdnnReader, em: torch.Tensor, amounts: list[str]) -> np.ndarray:
    """log P(amount | emissions em [T, 15]) of each amount, through the reader's lattice."""
    em = em.expand(len(amounts), -1, -1).contiguous()
    lengths = torch.full((len(amounts),), em.shape[1])
    decoded = (em, lengths, gtn.intersect_dense(reader.graph, em, lengths))
    return reader.answer_log_posteriors([None] * len(amounts), amounts, decoded)


@pytest.mark.parametrize("peak", [0.0, 12.0, 40.0])
def test_sdnn_posteriors_with_the_prior_sum_to_one_and_shift_by_its_energy(peak):
    frames, amounts = 3, amounts_up_to(3)
    counts = sampled_counts(300)
    gen = torch.Generator().manual_seed(2)
    # flat, peaked and near one-hot emissions: one label per frame likelier by ``peak``
    logits = torch.randn(frames, NUM_LABELS, generator=gen, dtype=torch.float64)
    logits[torch.arange(frames), torch.randint(NUM_LABELS, (frames,), generator=gen)] += peak
    em = -torch.log_softmax(logits, -1)
    weighted = SdnnReader(prior=counts)
    log_p = sdnn_log_posteriors(weighted, em, amounts)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-4)
    log_plain = sdnn_log_posteriors(SdnnReader(weighted.network), em, amounts)
    readable = np.isfinite(log_plain) & (log_plain > -600)  # exp underflows beyond
    assert np.array_equal(np.isfinite(log_p), np.isfinite(log_plain))
    prior = prior_energies(weighted.grammar, [encode(a) for a in amounts])
    shift = log_p[readable] + prior[readable] - log_plain[readable]
    assert readable.sum() > 100 and np.ptp(shift) < 1e-4


@pytest.mark.parametrize("kind", ["segmenting", "sdnn"])
def test_checkpoints_keep_the_prior_and_older_files_read_without_one(tmp_path, kind):
    counts = sampled_counts(200)
    if kind == "segmenting":
        reader, load, fmt = (
            CheckReader(CheckReaderModel(prior=counts)),
            CheckReader.load,
            "ebgtn.check_reading.segmenting",
        )
        prior_of = lambda r: r.model.prior  # noqa: E731
    else:
        reader, load, fmt = SdnnReader(prior=counts), SdnnReader.load, "ebgtn.check_reading.sdnn"
        prior_of = lambda r: r.prior  # noqa: E731
    path = reader.save(tmp_path / "r.pt")
    assert prior_of(load(path)) == counts
    payload = read_checkpoint(path, fmt)
    payload["config"].pop("prior")  # as written before the prior existed
    write_checkpoint(path, fmt, payload)
    assert prior_of(load(path)) is None
    payload["config"]["prior"] = counts[:-1]
    write_checkpoint(path, fmt, payload)
    with pytest.raises(CheckpointError, match=r"r.pt: the length of config.prior = 44"):
        load(path)
