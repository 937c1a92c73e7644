"""The user-facing API and CLI: clear errors for bad input, save/load, decoding WAV files."""

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from apps.speech import corpus
from apps.speech.api import MAX_AMPLITUDE, CheckpointError, SpeechRecognizer, check_waveform
from apps.speech.cli import main
from apps.speech.graphs import Topology
from apps.speech.network import TDNN
from factors.checkpoint import read_checkpoint, write_checkpoint


@pytest.fixture(scope="module")
def untrained():
    top = Topology("ctc")
    return SpeechRecognizer(TDNN(top.num_columns, width=8), top)


GOOD = np.zeros(1600)


@pytest.mark.parametrize(
    "waveforms, rate, message",
    [
        ([GOOD, np.zeros(0)], 16000, "utterance 1: the waveform is empty"),
        ([np.zeros((2, 100))], 16000, "utterance 0: expected a 1-D waveform"),
        ([GOOD, GOOD, np.array([0.0, np.nan])], 16000, "utterance 2: sample 1 is nan"),
        ([GOOD], 0, "utterance 0: sample rate must be a positive"),
        ([GOOD], -8000, "utterance 0: sample rate must be a positive"),
        ([GOOD, GOOD], [16000, None], "utterance 1: unknown sample rate"),
        ([GOOD], "16k", "utterance 0: sample rate must be a positive"),
        ([GOOD], [16000, 8000], "2 sample rates for 1 utterances"),
        (GOOD, 16000, "list of 1-D arrays"),
        ([GOOD, np.full(800, 1e160)], 16000, r"utterance 1: sample 0 is 1e\+160; float samples"),
        ([np.full(800, -1001.0)], 16000, "utterance 0: sample 0 is -1001; float samples"),
        ([np.zeros(800, np.int64)], 16000, "utterance 0: int64 samples are no PCM format"),
        ([np.zeros(800, np.uint16)], 16000, "utterance 0: uint16 samples are no PCM format"),
    ],
)
def test_bad_input_is_a_clear_value_error(untrained, waveforms, rate, message):
    with pytest.raises(ValueError, match=message):
        untrained.recognize(waveforms, rate)


def test_any_sample_rate_and_int16(untrained):
    x = np.random.default_rng(0).standard_normal(8000) * 0.1
    r = untrained.recognize([x, (x * 20000).astype(np.int16)], [8000, 44100])
    assert len(r) == 2 and all(0.0 <= u.confidence <= 1.0 for u in r)


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (np.int16, [-32768, 0, 16384], [-1.0, 0.0, 0.5]),
        (np.int32, [-(2**31), 0, 2**30], [-1.0, 0.0, 0.5]),
        (np.int8, [-128, 0, 64], [-1.0, 0.0, 0.5]),
        (np.uint8, [0, 128, 192], [-1.0, 0.0, 0.5]),  # 8-bit WAV: unsigned, centred on 128
    ],
)
def test_integer_pcm_is_scaled_by_its_full_range(dtype, values, expected):
    np.testing.assert_array_equal(check_waveform(np.array(values, dtype), 0), expected)


def test_float_samples_up_to_the_amplitude_bound_are_kept():
    x = np.array([-MAX_AMPLITUDE, -1.5, 0.25, MAX_AMPLITUDE], np.float32)
    np.testing.assert_array_equal(check_waveform(x, 0), x.astype(np.float64))


@pytest.mark.parametrize(
    ("feats", "message"),
    [
        ([torch.zeros(50, 40), torch.zeros(0, 40)], r"utterance 1: the features hold no frames"),
        ([torch.zeros(50, 40, dtype=torch.int64)], r"utterance 0: features must be floating"),
        ([torch.zeros(50, 7)], r"utterance 0: features must be \[T, 40\], got \[50, 7\]"),
        ([torch.zeros(2, 50, 40)], r"utterance 0: features must be \[T, 40\]"),
        ([torch.full((5, 40), float("nan"))], r"utterance 0: frame 0 of the features is NaN"),
        (torch.zeros(50, 40), r"features must be a list of \[T, 40\] tensors"),
    ],
)
def test_bad_features_are_a_value_error_before_the_network_runs(untrained, feats, message):
    with pytest.raises(ValueError, match=message):
        untrained.recognize_features(feats)


def test_features_of_one_frame_or_of_float64_are_decoded(untrained):
    feats = [torch.zeros(1, 40), torch.zeros(30, 40, dtype=torch.float64)]
    assert len(untrained.recognize_features(feats)) == 2


def test_save_load_gives_the_same_energies(tmp_path, tiny_recognizer, tiny_prepared):
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    back = SpeechRecognizer.load(tmp_path / "r.pt")
    assert back.topology == rec.topology
    feats = tiny_prepared.features[:2]
    for a, b in zip(rec.energies(feats), back.energies(feats), strict=True):
        torch.testing.assert_close(a, b)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        SpeechRecognizer.load(tmp_path / "bad.pt")


def test_a_recogniser_saved_before_features_were_named_asks_to_retrain(tmp_path, untrained):
    untrained.save(tmp_path / "r.pt")
    payload = read_checkpoint(tmp_path / "r.pt", "ebgtn.speech.recognizer")
    del payload["config"]["features"]  # as every file written before the speech-frame CMVN
    write_checkpoint(tmp_path / "old.pt", "ebgtn.speech.recognizer", payload)
    with pytest.raises(
        CheckpointError,
        match=r"old\.pt: config lacks features \(written by an earlier version\?\); train a new",
    ):
        SpeechRecognizer.load(tmp_path / "old.pt")
    payload["config"]["features"] = "log-mel 80"
    write_checkpoint(tmp_path / "other.pt", "ebgtn.speech.recognizer", payload)
    with pytest.raises(
        CheckpointError, match=r"config\.features = 'log-mel 80' \(str\) is not one of"
    ):
        SpeechRecognizer.load(tmp_path / "other.pt")
    SpeechRecognizer.load(tmp_path / "r.pt")  # the current format reads


def test_cli_decodes_a_wav_file(tmp_path, capsys, tiny_recognizer, tiny_corpus):
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    u = tiny_corpus.utterances[0]
    wavfile.write(tmp_path / "u.wav", corpus.SAMPLE_RATE, u.audio)
    assert main(["decode", str(tmp_path / "u.wav"), "--checkpoint", str(tmp_path / "r.pt")]) == 0
    out = capsys.readouterr().out
    assert "confidence" in out and str(tmp_path / "u.wav") in out
    assert main(["decode", str(tmp_path / "r.pt"), "--checkpoint", str(tmp_path / "r.pt")]) == 2
    assert "not a WAV file" in capsys.readouterr().err


def test_nbest_and_lattice_on_request(tiny_recognizer, tiny_corpus):
    import decoders

    rec, _ = tiny_recognizer
    u = tiny_corpus.utterances[1]
    plain = rec.recognize([u.audio], corpus.SAMPLE_RATE)[0]
    assert plain.hypotheses == [] and plain.lattice is None
    r = rec.recognize([u.audio], corpus.SAMPLE_RATE, num_hypotheses=3, lattice=True)[0]
    assert isinstance(r.lattice, decoders.Lattice)
    texts, posteriors = zip(*r.hypotheses, strict=True)
    assert texts[0] == r.text and len(set(texts)) == len(texts) <= 3
    # n-best is ordered by best-path energy, which need not order the (summed) posteriors
    assert all(0 <= p <= 1 for p in posteriors) and sum(posteriors) <= 1 + 1e-9
    assert posteriors[0] == pytest.approx(r.confidence)


def test_cli_generate_writes_a_kaldi_data_directory(tmp_path, capsys):
    argv = ["generate", "--utterances", "2", "--speakers", "2", "--quiet"]
    assert main([*argv, "--cache-dir", str(tmp_path), "--data-dir", str(tmp_path / "w")]) == 0
    wavs = sorted((tmp_path / "w" / "wav").glob("*.wav"))
    assert [p.name.endswith(("-train-00000.wav", "-train-00001.wav")) for p in wavs] == [True] * 2
    lines = (tmp_path / "w" / "text").read_text().splitlines()
    assert len(lines) == 2 and all(w in corpus.WORDS for w in lines[0].split()[1:])
    scp = dict(line.split(" ", 1) for line in (tmp_path / "w" / "wav.scp").read_text().splitlines())
    assert sorted(scp.values()) == [str(p) for p in wavs]
    rate, audio = wavfile.read(wavs[0])
    assert rate == corpus.SAMPLE_RATE and audio.dtype == np.int16 and audio.size > 1000


def test_dither_is_saved_and_used_when_recognising(tmp_path, tiny_recognizer, tiny_corpus):
    from apps.speech import features, noise

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "plain.pt")
    assert SpeechRecognizer.load(tmp_path / "plain.pt").dither == 0.0
    payload = read_checkpoint(tmp_path / "plain.pt", "ebgtn.speech.recognizer")
    del payload["config"]["dither"]  # every setting is required, none defaulted
    write_checkpoint(tmp_path / "old.pt", "ebgtn.speech.recognizer", payload)
    with pytest.raises(CheckpointError, match="old.pt: config lacks dither"):
        SpeechRecognizer.load(tmp_path / "old.pt")
    dithered = SpeechRecognizer(rec.model, rec.topology, dither=3e-4)
    dithered.save(tmp_path / "d.pt")
    back = SpeechRecognizer.load(tmp_path / "d.pt")
    assert back.dither == 3e-4
    audio = tiny_corpus.utterances[0].audio
    x = noise.apply(audio, "clean", np.random.default_rng(0))
    expected = back.recognize_features([features.log_mel(x, 3e-4)])[0]
    got = back.recognize([x], 16000)[0]
    assert got.words == expected.words and got.confidence == pytest.approx(expected.confidence)
    with pytest.raises(ValueError, match="dither"):
        SpeechRecognizer(rec.model, rec.topology, dither=-1.0)


def test_an_utterance_reads_the_same_in_a_batch_as_alone():
    """Frames past a short utterance's end are padding; batch norm makes them non-zero, and the
    dilated convolutions would carry them into the utterance's last frames."""
    torch.manual_seed(0)
    net = TDNN(7, width=16)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):  # running statistics unlike a fresh layer's
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    net.eval()
    short, long = torch.randn(23, 40), torch.randn(61, 40)
    with torch.no_grad():
        alone, n_alone = net(short[None], torch.tensor([23]))
        batch, n_batch = net(
            torch.nn.utils.rnn.pad_sequence([short, long], batch_first=True), torch.tensor([23, 61])
        )
    assert n_batch[0] == n_alone[0] == 12
    torch.testing.assert_close(batch[0, :12], alone[0], rtol=1e-5, atol=1e-5)
