"""Kaldi-style data directories (apps.speech.kaldi): strict reading with file:line errors,
audio of any rate and channel count resampled to 16 kHz, segments, wav.scp commands only on
opt-in, and the synthetic corpus written in the same format. Every directory is written here."""

from __future__ import annotations

import os
import signal
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from apps._common import media
from apps.speech import corpus, kaldi, wav_commands

RNG = np.random.default_rng(7)


def tone(seconds: float, rate: int, channels: int, freq: float = 440.0) -> np.ndarray:
    """float64 [N, channels] in (-1, 1): a tone per channel at different levels, plus noise."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack(
        [0.5 / (c + 1) * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], 1
    )
    return x + 0.01 * RNG.standard_normal(x.shape)


def write_wav24(path: Path, x: np.ndarray, rate: int) -> np.ndarray:
    """Write [N, C] as 24-bit PCM (scipy cannot); returns the values the file holds."""
    ints = np.clip(np.round(x * (1 << 23)), -(1 << 23), (1 << 23) - 1).astype(np.int32)
    raw = (ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()
    channels = x.shape[1]
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 3 * channels, 3 * channels, 24)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(raw))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(raw)) + body + raw)
    return ints / float(1 << 23)


def to_16k(mono: np.ndarray, rate: int) -> np.ndarray:
    r = Fraction(16000, rate)
    return mono if rate == 16000 else resample_poly(mono, r.numerator, r.denominator)


def write_dir(folder: Path, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / name.replace("_", ".") if name == "wav_scp" else folder / name).write_text(text)
    return folder


@pytest.fixture
def mixed(tmp_path):
    """A data directory of an 8 kHz stereo 24-bit file, a 44.1 kHz float32 stereo file and a
    16 kHz 16-bit mono file; returns (folder, expected 16 kHz audio per utterance)."""
    a = write_wav24(tmp_path / "a.wav", tone(0.5, 8000, 2), 8000).mean(1)
    b = tone(0.4, 44100, 2).astype(np.float32)
    wavfile.write(tmp_path / "b.wav", 44100, b)
    c = (tone(0.3, 16000, 1)[:, 0] * 32767).astype(np.int16)
    wavfile.write(tmp_path / "c.wav", 16000, c)
    folder = write_dir(
        tmp_path / "data",
        wav_scp="".join(
            f"{u} {tmp_path / f}\n"
            for u, f in (("s1-a", "a.wav"), ("s1-b", "b.wav"), ("s2-c", "c.wav"))
        ),
        text="s1-a one two\ns1-b oh\ns2-c nine nine\n",
        utt2spk="s1-a s1\ns1-b s1\ns2-c s2\n",
        spk2utt="s1 s1-a s1-b\ns2 s2-c\n",
    )
    expected = {
        "s1-a": to_16k(a, 8000),
        "s1-b": to_16k(b.astype(np.float64).mean(1), 44100),
        "s2-c": c / 32768.0,
    }
    return folder, expected


def test_any_rate_channels_and_sample_format_reads_as_16k_mono(mixed):
    folder, expected = mixed
    data = kaldi.read_data_dir(folder)
    assert data.utterances == ["s1-a", "s1-b", "s2-c"]
    assert data.text["s1-a"] == ("one", "two") and data.utt2spk == {
        "s1-a": "s1",
        "s1-b": "s1",
        "s2-c": "s2",
    }
    for utt, want in expected.items():
        got = data.audio(utt)
        assert got.shape == want.shape, utt
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=utt)
    assert data.seconds("s1-a") == pytest.approx(0.5)


def test_corpus_from_a_data_dir_maps_words_and_speakers(mixed):
    folder, expected = mixed
    c = corpus.from_data_dir(folder)
    assert [u.text for u in c.utterances] == ["one two", "oh", "nine nine"]
    assert c.speakers == {"s1", "s2"} and c.seconds() == pytest.approx(1.2)
    assert c.utterances[0].words == (2, 3) and np.isnan(c.utterances[0].word_starts).all()
    np.testing.assert_allclose(c.utterances[2].audio, expected["s2-c"])


def test_a_word_outside_the_vocabulary_names_the_text_line(mixed):
    folder, _ = mixed
    (folder / "text").write_text("s1-a one two\ns1-b hello\ns2-c nine\n")
    with pytest.raises(ValueError, match=r"text:2: the word 'hello' is not in the recogniser"):
        corpus.from_data_dir(folder)


@pytest.mark.parametrize(
    "table, content, message",
    [
        ("text", "s1-a one\ns1-a two\n", r"text:2: duplicate id s1-a"),
        ("text", "s1-a one\n\ns1-b oh\n", r"text:2: empty line"),
        ("text", "s1-a one\n s1-b oh\n", r"text:2: the line starts with white space"),
        ("text", "s1-a one\ns9-z oh\n", r"text:2: utterance s9-z has no audio \(not in .*scp\)"),
        ("text", "s1-a one\ns1-b oh\n", r"wav.scp:3: utterance s2-c has no transcript"),
        ("wav_scp", "s1-a\n", r"wav.scp:1: recording s1-a has no path or command"),
        ("wav_scp", "s1-a /no/such/file.wav\n", r"wav.scp:1: recording s1-a: no such WAV file"),
        ("wav_scp", "s1-a a.ark:1234\n", r"wav.scp:1: .*archive offsets are not supported"),
        ("utt2spk", "s1-a s1\ns1-b s1 s3\ns2-c s2\n", r"utt2spk:2: expected '<utterance-id> <spea"),
        ("utt2spk", "s1-a s1\ns1-b s1\n", r"spk2utt:2: utterance s2-c .*utt2spk has no line"),
        ("spk2utt", "s1 s1-a\ns2 s2-c s1-b\n", r"spk2utt:2: utterance s1-b is under s2, .*says s1"),
        ("spk2utt", "s1 s1-a s1-b\ns2 s2-c s1-a\n", r"spk2utt:2: utterance s1-a is also listed"),
    ],
)  # fmt: skip
def test_malformed_tables_name_the_file_and_line(mixed, table, content, message):
    folder, _ = mixed
    (folder / ("wav.scp" if table == "wav_scp" else table)).write_bytes(content.encode())
    with pytest.raises(ValueError, match=message):
        kaldi.read_data_dir(folder)


def test_an_utterance_without_a_speaker_names_its_audio_line(mixed):
    folder, _ = mixed
    (folder / "spk2utt").unlink()
    (folder / "utt2spk").write_text("s1-a s1\ns1-b s1\n")
    with pytest.raises(ValueError, match=r"wav.scp:3: utterance s2-c has no speaker in .*utt2spk"):
        kaldi.read_data_dir(folder)


def test_text_that_is_not_utf8_names_the_line(mixed):
    folder, _ = mixed
    (folder / "text").write_bytes(b"s1-a one\ns1-b \xff\xfe\n")
    with pytest.raises(ValueError, match=r"text:2: the line is not UTF-8"):
        kaldi.read_data_dir(folder)


def test_a_line_longer_than_the_limit_is_refused_without_reading_it_all(mixed, monkeypatch):
    folder, _ = mixed
    monkeypatch.setattr(kaldi, "MAX_LINE_BYTES", 100)
    (folder / "text").write_text("s1-a one\ns1-b " + "oh " * 1000 + "\n")
    with pytest.raises(ValueError, match=r"text:2: the line is longer than 100 bytes"):
        kaldi.read_data_dir(folder)


def test_without_utt2spk_each_utterance_is_its_own_speaker(mixed):
    folder, _ = mixed
    (folder / "utt2spk").unlink()
    (folder / "spk2utt").unlink()
    assert kaldi.read_data_dir(folder).utt2spk == {u: u for u in ("s1-a", "s1-b", "s2-c")}


def test_relative_paths_are_found_next_to_the_data_dir(tmp_path, monkeypatch):
    folder = write_dir(tmp_path / "d", wav_scp="u1 wav/u1.wav\n", text="u1 one\n")
    (folder / "wav").mkdir()
    wavfile.write(folder / "wav" / "u1.wav", 16000, np.zeros(800, np.int16))
    monkeypatch.chdir(tmp_path)  # not the data dir: wav/u1.wav is not here
    assert kaldi.read_data_dir(folder).audio("u1").shape == (800,)


@pytest.fixture
def deadline():
    """A read that blocks fails the test after 5 s instead of hanging the run."""

    def expire(*_):
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


FIFO = pytest.param(
    "a FIFO",
    marks=pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system"),
)


@pytest.mark.parametrize("kind", [FIFO, "a directory"])
@pytest.mark.parametrize("table", ["wav.scp", "text", "utt2spk", "spk2utt", "segments"])
def test_a_table_that_is_not_a_regular_file_is_refused_not_waited_on(mixed, deadline, kind, table):
    folder, _ = mixed
    (folder / table).unlink(missing_ok=True)
    (os.mkfifo if kind == "a FIFO" else os.mkdir)(folder / table)
    with pytest.raises(ValueError, match=rf"{table}: {kind}, not a regular file"):
        kaldi.read_data_dir(folder)


@pytest.mark.parametrize("table", ["segments", "text", "spk2utt"])
def test_a_dangling_link_under_a_tables_name_is_not_taken_for_no_table(mixed, table):
    folder, _ = mixed
    (folder / table).unlink(missing_ok=True)
    os.symlink(folder / "moved-away", folder / table)
    with pytest.raises(ValueError, match=rf"{table}: a symbolic link to '.*moved-away', which"):
        kaldi.read_data_dir(folder, need_text=False)


def test_a_path_too_long_for_the_file_system_names_wav_scp_and_line(mixed):
    folder, _ = mixed
    (folder / "wav.scp").write_text(f"s1-a {folder.parent / 'a.wav'}\ns1-b {'x' * 5000}.wav\n")
    with pytest.raises(ValueError, match=r"wav\.scp:2: recording s1-b: 'xxx.*\.\.\.' is not a us"):
        kaldi.read_data_dir(folder, need_text=False)


def test_an_empty_wav_scp_is_refused_as_an_empty_labels_file_is(mixed):
    folder, _ = mixed
    (folder / "wav.scp").write_text("")
    with pytest.raises(ValueError, match=r"wav\.scp: lists no recordings"):
        kaldi.read_data_dir(folder, need_text=False)
    with pytest.raises(ValueError, match=r"wav\.scp: lists no recordings"):
        kaldi.utterances_of([folder / "wav.scp"])


def test_an_empty_segments_file_is_refused(long_recording):
    folder, _ = long_recording
    (folder / "segments").write_text("")
    with pytest.raises(ValueError, match=r"segments: lists no segments"):
        kaldi.read_data_dir(folder, need_text=False)


def test_speech_decode_of_an_empty_or_fifo_table_is_one_line(mixed, tmp_path, deadline, capsys):
    from apps.cli import main
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    top = Topology("ctc")
    SpeechRecognizer(TDNN(top.num_columns, width=8), top).save(tmp_path / "r.pt")
    folder, _ = mixed
    argv = ["speech", "decode", str(folder), "--checkpoint", str(tmp_path / "r.pt")]
    (folder / "wav.scp").write_text("")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wav.scp: lists no recordings" in err
    (folder / "wav.scp").write_text(f"s1-a {folder.parent / 'a.wav'}\n")
    (folder / "text").unlink()
    os.mkfifo(folder / "text")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "text: a FIFO, not a regular file" in err


def test_read_wav_names_a_range_of_no_frame_and_refuses_infinite_seconds(tmp_path):
    wavfile.write(tmp_path / "r.wav", 1000, np.zeros(800, np.int16))
    with pytest.raises(
        ValueError, match=r"r\.wav: the range 0\.1 to 0\.1002 s is shorter than one"
    ):
        media.read_wav(tmp_path / "r.wav", 0.1, 0.1002)
    for start, end in [(0.0, float("inf")), (float("nan"), None), (1e308, None)]:
        with pytest.raises(ValueError, match=r"r\.wav: the range .* is outside the recording"):
            media.read_wav(tmp_path / "r.wav", start, end)
    assert media.read_wav(tmp_path / "r.wav", 0.1, 0.1006)[0].shape == (1,)


# -- segments ------------------------------------------------------------------------------------


@pytest.fixture
def long_recording(tmp_path):
    """A 3 s, 22.05 kHz stereo recording cut into three segments."""
    x = tone(3.0, 22050, 2)
    wavfile.write(tmp_path / "rec.wav", 22050, x.astype(np.float32))
    folder = write_dir(
        tmp_path / "data",
        wav_scp=f"rec1 {tmp_path / 'rec.wav'}\n",
        segments="u1 rec1 0.00 1.00\nu2 rec1 1.00 2.50\nu3 rec1 2.50 -1\n",
        text="u1 one\nu2 two\nu3 three\n",
    )
    return folder, x.astype(np.float32).astype(np.float64).mean(1)


def test_segments_read_their_own_frames(long_recording):
    folder, mono = long_recording
    data = kaldi.read_data_dir(folder)
    assert data.utterances == ["u1", "u2", "u3"]
    for utt, (a, b) in {"u1": (0, 22050), "u2": (22050, 55125), "u3": (55125, 66150)}.items():
        np.testing.assert_allclose(data.waveform(utt)[0], mono[a:b], err_msg=utt)
        assert data.audio(utt).shape == (round((b - a) * 16000 / 22050),)
    assert data.seconds("u3") == pytest.approx(0.5)


@pytest.mark.parametrize(
    "line, message",
    [
        ("u9 rec1 2.0 9.0", r"segments:4: segment u9 \(2 to 9 s\) is beyond .* \(3.000 s\)"),
        ("u9 rec1 5.0 -1", r"segments:4: segment u9 .* is beyond the end"),
        ("u9 rec1 1.0 0.5", r"segments:4: segment u9 runs from 1 to 0.5 s"),
        ("u9 rec1 -1 2", r"segments:4: segment u9 runs from -1 to 2 s"),
        ("u9 rec1 1.0 nan", r"segments:4: 'nan' is not a number of seconds"),
        ("u9 rec1 1.0", r"segments:4: expected '<utterance-id> <recording-id> <start> <end>'"),
        ("u9 rec2 0 1", r"segments:4: segment u9: recording rec2 is not in wav.scp"),
        ("u9 rec1 0.00001 0.00002", r"segments:4: segment u9 of rec1: the range 1e-05 to 2e-05 s "
         r"is shorter than one frame at 22050 Hz"),
        ("u9 rec1 2.99998 3.4", r"segments:4: segment u9 of rec1: .* shorter than one frame"),
    ],
)  # fmt: skip
def test_bad_segments_name_the_line(long_recording, line, message):
    folder, _ = long_recording
    with open(folder / "segments", "a") as f:
        f.write(line + "\n")
    with open(folder / "text", "a") as f:
        f.write("u9 one\n")
    with pytest.raises(ValueError, match=message):
        kaldi.read_data_dir(folder)


def test_segments_of_a_piped_recording_run_its_command_once(long_recording, tmp_path):
    folder, mono = long_recording
    log = tmp_path / "runs"
    (tmp_path / "play.sh").write_text(f'echo run >> "{log}"\ncat "{tmp_path / "rec.wav"}"\n')
    (folder / "wav.scp").write_text(f"rec1 sh {tmp_path / 'play.sh'} |\n")
    data = kaldi.read_data_dir(folder, allow_commands=True)
    parts = [data.waveform(u)[0] for u in data.utterances]
    np.testing.assert_allclose(np.concatenate(parts), mono)
    assert log.read_text() == "run\n"


def test_a_segment_of_a_piped_recording_shorter_than_a_frame_names_its_line(
    long_recording, tmp_path
):
    folder, _ = long_recording
    (folder / "wav.scp").write_text(f"rec1 cat {tmp_path / 'rec.wav'} |\n")
    (folder / "segments").write_text("u1 rec1 0.00001 0.00002\n")
    (folder / "text").write_text("u1 one\n")
    data = kaldi.read_data_dir(folder, allow_commands=True)  # the rate is known once it runs
    with pytest.raises(ValueError, match=r"segments:1: segment u1 of rec1: .* shorter than one"):
        data.waveform("u1")


def test_a_segment_overshooting_by_less_than_half_a_second_is_cut_at_the_end(long_recording):
    folder, mono = long_recording
    (folder / "segments").write_text("u1 rec1 2.5 3.4\n")
    (folder / "text").write_text("u1 one\n")
    np.testing.assert_allclose(kaldi.read_data_dir(folder).waveform("u1")[0], mono[55125:])


def test_a_header_claiming_gigabytes_is_cut_to_the_file_and_segments_checked_against_it(tmp_path):
    wavfile.write(tmp_path / "r.wav", 16000, np.ones(16000, np.int16))
    data = bytearray((tmp_path / "r.wav").read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)  # claims 4 GB, holds 1 s
    (tmp_path / "r.wav").write_bytes(bytes(data))
    folder = write_dir(
        tmp_path / "d",
        wav_scp=f"r {tmp_path / 'r.wav'}\n",
        segments="u r 0 100000\n",
        text="u one\n",
    )
    with pytest.raises(
        ValueError, match=r"segments:1: segment u .* beyond the end of recording r \(1.000 s\)"
    ):
        kaldi.read_data_dir(folder)


# -- commands ------------------------------------------------------------------------------------


def test_a_command_is_refused_without_the_flag_and_never_run(mixed, tmp_path):
    folder, _ = mixed
    marker = tmp_path / "ran"
    (folder / "wav.scp").write_text(
        f"s1-a {tmp_path / 'a.wav'}\ns1-b touch {marker} |\ns2-c {tmp_path / 'c.wav'}\n"
    )
    with pytest.raises(ValueError) as err:
        kaldi.read_data_dir(folder)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{folder / 'wav.scp'}:2: recording s1-b")
    assert "--allow-wav-commands" in message
    assert not marker.exists()


def test_the_cli_refuses_a_command_in_one_line_naming_the_flag(mixed, tmp_path, capsys):
    from apps.cli import main

    folder, _ = mixed
    marker = tmp_path / "ran"
    (folder / "wav.scp").write_text(f"s1-a touch {marker} |\n")
    (folder / "text").write_text("s1-a one\n")
    for f in ("utt2spk", "spk2utt"):
        (folder / f).unlink()
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    top = Topology("ctc")
    SpeechRecognizer(TDNN(top.num_columns, width=8), top).save(tmp_path / "r.pt")
    model = str(tmp_path / "r.pt")
    for argv in (["speech", "decode", str(folder), "--checkpoint", model],
                 ["speech", "evaluate", model, "--data", str(folder)]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "wav.scp:1" in err and "--allow-wav-commands" in err
    assert not marker.exists()


def test_allowed_commands_run_without_a_shell_where_possible(mixed, tmp_path):
    folder, expected = mixed
    assert wav_commands.command_argv(f"cat {tmp_path / 'c.wav'}") == [
        "cat",
        str(tmp_path / "c.wav"),
    ]
    assert wav_commands.command_argv("cat a.wav > b.wav") is None
    assert wav_commands.command_argv("cat $HOME/a.wav") is None
    (folder / "wav.scp").write_text(
        f"s1-a cat {tmp_path / 'a.wav'} |\n"
        f"s1-b cat {tmp_path / 'b.wav'} | cat |\n"  # a pipeline: /bin/sh runs it
        f"s2-c {tmp_path / 'c.wav'}\n"
    )
    data = kaldi.read_data_dir(folder, allow_commands=True)
    for utt, want in expected.items():
        np.testing.assert_allclose(data.audio(utt), want, atol=1e-6, err_msg=utt)


def test_a_failing_slow_or_flooding_command_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"x:1: the command exited with status 3: oops"):
        wav_commands.run_wav_command("echo oops >&2; exit 3", "x:1")
    with pytest.raises(ValueError, match=r"x:2: the command did not finish in 0.5 s"):
        wav_commands.run_wav_command("sleep 30", "x:2", timeout=0.5)
    with pytest.raises(ValueError, match=r"x:3: the command wrote more than 100000 bytes"):
        wav_commands.run_wav_command("yes", "x:3", max_bytes=100_000)
    with pytest.raises(ValueError, match=r"x:4: cannot run 'no-such-program-here a.wav'"):
        wav_commands.run_wav_command("no-such-program-here a.wav", "x:4")


def test_a_command_that_writes_no_wav_names_the_line(tmp_path):
    folder = write_dir(tmp_path / "d", wav_scp="u echo hello |\n", text="u one\n")
    data = kaldi.read_data_dir(folder, allow_commands=True)
    with pytest.raises(ValueError, match=r"wav.scp:1 \(output of the command\) is not a WAV file"):
        data.audio("u")


# -- writing -------------------------------------------------------------------------------------


def test_a_synthetic_corpus_round_trips_through_a_data_dir(tmp_path, tiny_corpus):
    folder = corpus.write_data_dir(tiny_corpus, tmp_path / "train")
    assert sorted(p.name for p in folder.iterdir()) == [
        "spk2utt",
        "text",
        "utt2spk",
        "wav",
        "wav.scp",
    ]
    back = corpus.from_data_dir(folder)
    assert len(back) == len(tiny_corpus) and back.speakers == tiny_corpus.speakers
    by_text = {}
    for u in tiny_corpus.utterances:
        by_text.setdefault((u.speaker, u.words), []).append(u.audio)
    for u in back.utterances:
        assert u.utt_id.startswith(u.speaker + "-")
        assert any(np.array_equal(u.audio, a / 32768.0) for a in by_text[(u.speaker, u.words)])
    lines = (folder / "utt2spk").read_text().splitlines()
    assert lines == sorted(lines) and (folder / "spk2utt").read_text().count("\n") == 2


def test_write_table_refuses_ids_with_white_space(tmp_path):
    with pytest.raises(ValueError, match="cannot be an id"):
        kaldi.write_table(tmp_path / "text", {"a b": ["one"]})


def test_written_and_cached_corpora_give_the_same_features(tmp_path, tiny_corpus):
    from apps.speech.data import prepare

    back = corpus.from_data_dir(corpus.write_data_dir(tiny_corpus, tmp_path / "train"))
    index = {u.utt_id: int(u.utt_id.rsplit("-", 1)[1]) for u in back.utterances}
    mine = prepare(back, ("clean",), dither=3e-4)
    theirs = prepare(tiny_corpus, ("clean",), dither=3e-4)
    for u, f in zip(back.utterances, mine.features, strict=True):
        i = index[u.utt_id]
        assert u.words == tiny_corpus.utterances[i].words
        np.testing.assert_array_equal(f.numpy(), theirs.features[i].numpy())
