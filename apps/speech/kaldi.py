"""Kaldi-style data directories: how speech people keep recordings and their transcripts.

A data directory holds plain-text tables, one ``<id> <value>`` per line:

- ``wav.scp``: ``<recording-id> <path>`` or ``<recording-id> <command ...> |`` (a command that
  writes a WAV file to its standard output, e.g. ``sph2pipe -f wav a.sph |``);
- ``text``: ``<utterance-id> <word> <word> ...`` (the transcript; it may be empty);
- ``utt2spk`` (optional): ``<utterance-id> <speaker-id>``; without it each utterance is its
  own speaker, as in Kaldi;
- ``spk2utt`` (optional): ``<speaker-id> <utterance-id> ...``, the inverse of ``utt2spk``;
- ``segments`` (optional): ``<utterance-id> <recording-id> <start> <end>`` in seconds (end -1:
  to the end of the recording); without it, utterance ids are recording ids.

Reading is strict: a malformed line, a duplicate id, an utterance of ``text`` without audio, a
missing or unreadable WAV file, speakers that disagree, a segment beyond its recording or
shorter than one of its frames, or a ``wav.scp`` (or ``segments``) that lists nothing is a
``ValueError`` naming the file and line. A table must be a regular file: a FIFO, device or
directory under a table's name is refused (reading a FIFO would wait for a writer forever), and
so is a symbolic link to nothing (never taken for an absent file). A segment may overshoot its
recording's end by up to :data:`MAX_OVERSHOOT` seconds (it is cut at the end), as Kaldi's
``extract-segments`` allows.

Commands in ``wav.scp`` are code taken from a file: they are refused (naming the file, the
line and the option that allows them) unless the caller opts in (:mod:`.wav_commands` runs
them). Relative paths are resolved against the current directory (Kaldi's rule) and, failing that,
against the data directory.

Audio is read one utterance at a time (:meth:`DataDir.audio`), a segment reading only its own
frames, so a corpus of long recordings is never held in memory at once.
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gtn.utils import atomic_write

from .._common.media import WavInfo, frame_range, read_wav, wav_info
from .features import as_16k
from .wav_commands import COMMAND_TIMEOUT, quoted, run_wav_command

WAV_SCP, TEXT, UTT2SPK, SPK2UTT, SEGMENTS = "wav.scp", "text", "utt2spk", "spk2utt", "segments"
ALLOW_COMMANDS_FLAG = "--allow-wav-commands"
MAX_OVERSHOOT = 0.5  # seconds a segment may run past its recording's end (Kaldi's default)
MAX_LINE_BYTES = 1 << 20  # a table line is an id and a path, a command or a transcript


@dataclass(frozen=True)
class Recording:
    """One line of ``wav.scp``: a WAV ``path`` (resolved) or a ``command`` (without its final
    ``|``); ``where`` is "file:line"; ``info`` the checked header of a file (None for a
    command, whose output is only known once it has run)."""

    id: str
    path: str | None
    command: str | None
    where: str
    info: WavInfo | None = None


@dataclass(frozen=True)
class Segment:
    """One line of ``segments``: ``recording`` id, ``start`` and ``end`` seconds (``end``
    None: to the recording's end)."""

    recording: str
    start: float
    end: float | None
    where: str


@dataclass
class DataDir:
    """A checked data directory (see the module doc). ``utterances``: ids in Kaldi's sorted
    order; ``text``: utterance id -> words (None when the directory has no ``text``);
    ``utt2spk``: utterance id -> speaker id (each utterance its own speaker without the
    file)."""

    path: Path
    recordings: dict[str, Recording]
    segments: dict[str, Segment] | None
    text: dict[str, tuple[str, ...]] | None
    utt2spk: dict[str, str]
    command_timeout: float = COMMAND_TIMEOUT
    # the last command's output: the segments of one piped recording run its command once
    # (utterance ids sort by recording); one recording's bytes are held, never more
    _piped: tuple[str, bytes] | None = field(default=None, repr=False)

    @property
    def utterances(self) -> list[str]:
        return sorted(self.segments if self.segments is not None else self.recordings)

    def __len__(self) -> int:
        return len(self.segments if self.segments is not None else self.recordings)

    def seconds(self, utterance: str) -> float | None:
        """Duration of ``utterance`` from headers alone (None when a command gives it)."""
        seg = self.segments.get(utterance) if self.segments is not None else None
        rec = self.recordings[seg.recording if seg else utterance]
        if rec.info is None:
            return None
        if seg is None:
            return rec.info.seconds
        end = rec.info.seconds if seg.end is None else min(seg.end, rec.info.seconds)
        return end - seg.start

    def waveform(self, utterance: str) -> tuple[np.ndarray, int]:
        """(float64 [N] in [-1, 1], sample rate) of one utterance, channels averaged; a
        segment reads only its frames; a command runs now (it was allowed when the directory
        was read). ValueError naming the file and line of the utterance's audio."""
        seg = self.segments.get(utterance) if self.segments is not None else None
        rec = self.recordings[seg.recording if seg else utterance]
        if rec.command is not None:
            where = f"{rec.where} (output of the command)"
            if self._piped is None or self._piped[0] != rec.id:
                self._piped = None  # drop the previous recording's bytes before running
                self._piped = (
                    rec.id,
                    run_wav_command(rec.command, rec.where, self.command_timeout),
                )
            source = io.BytesIO(self._piped[1])
        else:
            where, source = rec.path, rec.path
        if seg is None:
            return read_wav(source, where=where)
        info = rec.info or wav_info(source, where)
        end = _segment_end(seg, utterance, info, rec.id)
        return read_wav(source, seg.start, end, where=f"{seg.where} ({where})")

    def audio(self, utterance: str) -> np.ndarray:
        """float64 [N] of one utterance at the recogniser's 16 kHz (down-mixed, and resampled
        by ``scipy.signal.resample_poly``)."""
        wave, rate = self.waveform(utterance)
        return as_16k(wave, rate)


def read_data_dir(
    path: str | os.PathLike,
    allow_commands: bool = False,
    need_text: bool = True,
    command_timeout: float = COMMAND_TIMEOUT,
) -> DataDir:
    """Read and check the data directory ``path`` (see the module doc). ``need_text``: every
    utterance must have a transcript (for training and scoring; decoding needs none).
    ``allow_commands``: run ``wav.scp`` commands when audio is read (refused otherwise).

    Raises:
        ValueError: naming the file and line of the first problem.
        OSError: a file cannot be read.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a directory (a Kaldi data directory holds wav.scp)")
    if not _present(folder / WAV_SCP):
        raise ValueError(f"{folder}: no {WAV_SCP} (a Kaldi data directory needs one)")
    recordings = read_wav_scp(folder / WAV_SCP, allow_commands)
    segments = (
        _read_segments(folder / SEGMENTS, recordings) if _present(folder / SEGMENTS) else None
    )
    audio_file = folder / (SEGMENTS if segments is not None else WAV_SCP)
    units = segments if segments is not None else recordings  # utterance id -> its line
    where = {u: x.where for u, x in units.items()}
    text = None
    if _present(folder / TEXT):
        text, text_where = read_text(folder / TEXT, with_lines=True)
        for utt, line in text_where.items():
            if utt not in where:
                raise ValueError(f"{line}: utterance {utt} has no audio (not in {audio_file})")
    if need_text:
        if text is None:
            raise ValueError(f"{folder}: no {TEXT} (the transcripts are needed here)")
        for utt in where:
            if utt not in text:
                raise ValueError(
                    f"{where[utt]}: utterance {utt} has no transcript in {folder / TEXT}"
                )
    utt2spk = _read_speakers(folder, where)
    return DataDir(folder, recordings, segments, text, utt2spk, command_timeout)


def read_wav_scp(path: str | os.PathLike, allow_commands: bool = False) -> dict[str, Recording]:
    """The recordings of a ``wav.scp`` file, each WAV file's header checked; a command line is
    refused unless ``allow_commands``. ValueError naming the file and line."""
    path = Path(path)
    recordings: dict[str, Recording] = {}
    for where, key, rest in _table(path, recordings):
        if not rest:
            raise ValueError(f"{where}: recording {key} has no path or command")
        if rest.endswith("|"):
            command = rest[:-1].strip()
            if not command:
                raise ValueError(f"{where}: recording {key} has an empty command")
            if not allow_commands:
                raise ValueError(
                    f"{where}: recording {key} is a command ({quoted(rest)}); commands in "
                    f"wav.scp run only with {ALLOW_COMMANDS_FLAG}"
                )
            recordings[key] = Recording(key, None, command, where)
            continue
        file = _resolve(rest, path.parent, f"{where}: recording {key}")
        if file is None:
            hint = " (archive offsets are not supported)" if _is_ark_offset(rest) else ""
            raise ValueError(f"{where}: recording {key}: no such WAV file {rest!r}{hint}")
        recordings[key] = Recording(key, file, None, where, wav_info(file, f"{where}: {file}"))
    if not recordings:
        raise ValueError(f"{path}: lists no recordings (lines of <recording-id> <path>)")
    return recordings


def read_text(
    path: str | os.PathLike, with_lines: bool = False
) -> dict[str, tuple[str, ...]] | tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """``text`` (or a hypothesis file in its format): utterance id -> words. ``with_lines``:
    also return utterance id -> "file:line". ValueError naming the file and line."""
    text: dict[str, tuple[str, ...]] = {}
    lines: dict[str, str] = {}
    for where, key, rest in _table(Path(path), lines):
        text[key] = tuple(rest.split())
        lines[key] = where
    return (text, lines) if with_lines else text


def read_utt2spk(path: str | os.PathLike) -> dict[str, str]:
    """``utt2spk``: utterance id -> speaker id. ValueError naming the file and line."""
    return {u: s for u, (s, _) in _read_utt2spk(Path(path)).items()}


def _read_utt2spk(path: Path) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {}
    for where, key, rest in _table(path, table):
        fields = rest.split()
        if len(fields) != 1:
            raise ValueError(f"{where}: expected '<utterance-id> <speaker-id>', got {quoted(rest)}")
        table[key] = (fields[0], where)
    return table


def _read_speakers(folder: Path, where: Mapping[str, str]) -> dict[str, str]:
    """utterance -> speaker from utt2spk and/or spk2utt, checked against each other and against
    the utterances (``where``: utterance -> its audio's line)."""
    utt2spk = _read_utt2spk(folder / UTT2SPK) if _present(folder / UTT2SPK) else None
    if _present(folder / SPK2UTT):
        spk2utt: dict[str, str] = {}  # speaker -> its line
        owner: dict[str, tuple[str, str]] = {}  # utterance -> (speaker, its spk2utt line)
        for line, spk, rest in _table(folder / SPK2UTT, spk2utt):
            if not rest:
                raise ValueError(f"{line}: speaker {spk} has no utterances")
            for u in rest.split():
                if u in owner:
                    raise ValueError(
                        f"{line}: utterance {u} is also listed under speaker {owner[u][0]}"
                    )
                owner[u] = (spk, line)
            spk2utt[spk] = line
        utt2spk = owner if utt2spk is None else utt2spk
        for u, (spk, line) in owner.items():
            if u not in utt2spk or utt2spk[u][0] != spk:
                said = f"says {utt2spk[u][0]}" if u in utt2spk else "has no line for it"
                raise ValueError(
                    f"{line}: utterance {u} is under {spk}, but {folder / UTT2SPK} {said}"
                )
        for u, (_, line) in utt2spk.items():
            if u not in owner:
                raise ValueError(f"{line}: utterance {u} is not listed in {folder / SPK2UTT}")
    if utt2spk is None:
        return {u: u for u in where}  # Kaldi's convention without speaker information
    for u, (_, line) in utt2spk.items():
        if u not in where:
            raise ValueError(f"{line}: utterance {u} has no audio")
    for u, line in where.items():
        if u not in utt2spk:
            raise ValueError(f"{line}: utterance {u} has no speaker in {folder / UTT2SPK}")
    return {u: s for u, (s, _) in utt2spk.items()}


def _read_segments(path: Path, recordings: Mapping[str, Recording]) -> dict[str, Segment]:
    segments: dict[str, Segment] = {}
    for where, key, rest in _table(path, segments):
        fields = rest.split()
        if len(fields) != 3:
            raise ValueError(
                f"{where}: expected '<utterance-id> <recording-id> <start> <end>', got "
                f"{quoted(key + ' ' + rest)}"
            )
        reco, start, end = fields[0], _seconds(fields[1], where), _seconds(fields[2], where)
        if reco not in recordings:
            raise ValueError(f"{where}: segment {key}: recording {reco} is not in wav.scp")
        if start < 0 or (end != -1 and end <= start):
            raise ValueError(f"{where}: segment {key} runs from {start:g} to {end:g} s")
        seg = Segment(reco, start, None if end == -1 else end, where)
        info = recordings[reco].info
        if info is not None:
            _segment_end(seg, key, info, reco)
        segments[key] = seg
    if not segments:
        raise ValueError(f"{path}: lists no segments (delete it to use whole recordings)")
    return segments


def _segment_end(seg: Segment, utterance: str, info: WavInfo, recording: str) -> float:
    """The end second of ``seg`` in a recording described by ``info`` (cut to its end when
    it overshoots by at most MAX_OVERSHOOT); ValueError naming the segment's line for a
    segment beyond the recording, or one that holds no frame of it."""
    length = info.seconds
    end = length if seg.end is None else seg.end
    if seg.start >= length or end > length + MAX_OVERSHOOT:
        raise ValueError(
            f"{seg.where}: segment {utterance} ({seg.start:g} to {end:g} s) is beyond the end "
            f"of recording {recording} ({length:.3f} s)"
        )
    end = min(end, length)
    frame_range(info, seg.start, end, f"{seg.where}: segment {utterance} of {recording}")
    return end


def _seconds(value: str, where: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a number of seconds") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {value!r} is not a number of seconds")
    return x


def _table(path: Path, seen: Mapping[str, object]) -> Iterator[tuple[str, str, str]]:
    """("file:line", key, rest of the line) of each line of a Kaldi table; ValueError for a
    line that is empty, starts with white space, is not UTF-8, is longer than
    MAX_LINE_BYTES, or repeats a key in ``seen`` (the caller's dict, filled as it goes)."""
    with _open_regular(path) as f:
        for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES:
                raise ValueError(f"{where}: the line is longer than {MAX_LINE_BYTES} bytes")
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: the line is not UTF-8 text") from None
            if not line.strip():
                raise ValueError(f"{where}: empty line")
            if line[0].isspace():
                raise ValueError(f"{where}: the line starts with white space (expected an id)")
            parts = line.split(None, 1)
            key, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if key in seen:
                raise ValueError(f"{where}: duplicate id {key}")
            yield where, key, rest


def _present(path: Path) -> bool:
    """Whether the optional table ``path`` is there; ValueError for a symbolic link to nothing
    (a table the user meant to give, not an absent one)."""
    if os.path.lexists(path) and not path.exists():
        raise ValueError(f"{path}: a symbolic link to {os.readlink(path)!r}, which does not exist")
    return path.exists()


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _open_regular(path: Path):
    """``path`` opened for binary reading; ValueError unless it is a regular file. Opened
    without blocking, then checked: a FIFO is refused, never waited on for a writer."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # OSError names the file
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "a device")
            raise ValueError(f"{path}: {kind}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _resolve(value: str, folder: Path, where: str) -> str | None:
    for candidate in (Path(value), folder / value):
        try:
            if candidate.is_file():
                return str(candidate)
        except OSError as err:  # a name too long for the file system, a loop of links...
            raise ValueError(
                f"{where}: {quoted(value)} is not a usable path ({err.strerror})"
            ) from None
    return None


def _is_ark_offset(value: str) -> bool:
    head, _, tail = value.rpartition(":")
    return bool(head) and tail.isdigit()


def utterances_of(
    inputs: Iterable[str | os.PathLike],
    allow_commands: bool = False,
    command_timeout: float = COMMAND_TIMEOUT,
) -> list[tuple[str, str, DataDir]]:
    """(utterance id, label, data directory holding it) of everything to decode, in order:
    each input is a data directory (a folder with ``wav.scp``; ``text`` is not needed), a
    ``wav.scp`` file (a name ending in ``.scp``), a folder of ``.wav`` files, or one WAV file
    (its id: the file name without ``.wav``; its label: the path). Headers are checked now.
    ValueError naming the input (and line) for a problem, or an utterance id given twice."""
    out: list[tuple[str, str, DataDir]] = []
    loose: dict[str, Recording] = {}
    seen: dict[str, str] = {}

    def add(utt: str, label: str, data: DataDir | None) -> None:
        if utt in seen:
            raise ValueError(f"{label}: utterance id {utt} is also given by {seen[utt]}")
        seen[utt] = label
        out.append((utt, label, data))

    def add_file(file: Path) -> None:
        utt = "_".join(file.name[: -len(file.suffix)].split()) if file.suffix else file.name
        loose[utt] = Recording(utt, str(file), None, str(file), wav_info(file))
        add(utt, str(file), None)

    for item in inputs:
        p = Path(item)
        if p.is_dir() and os.path.lexists(p / WAV_SCP):
            data = read_data_dir(p, allow_commands, False, command_timeout)
            for u in data.utterances:
                add(u, u, data)
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() == ".wav" and f.is_file())
            if not files:
                raise ValueError(
                    f"{p}: neither a data directory (no wav.scp) nor a folder of .wav files"
                )
            for f in files:
                add_file(f)
        elif p.suffix == ".scp":
            recs = read_wav_scp(p, allow_commands)
            data = DataDir(p.parent, recs, None, None, {r: r for r in recs}, command_timeout)
            for r in sorted(recs):
                add(r, r, data)
        else:
            add_file(p)
    files = DataDir(Path("."), loose, None, None, {u: u for u in loose})
    return [(u, label, files if data is None else data) for u, label, data in out]


# -- writing ------------------------------------------------------------------------------------


def write_table(path: str | os.PathLike, rows: Mapping[str, str | Iterable[str]]) -> None:
    """Write a Kaldi table atomically, sorted by id (Kaldi's C-locale order); a row's value is
    a string or words joined by spaces. ValueError for an id or word that is empty or holds
    white space."""
    lines = []
    for key in sorted(rows):
        value = rows[key]
        words = [value] if isinstance(value, str) else list(value)
        for token in [key, *([] if isinstance(value, str) else words)]:
            if not token or any(c.isspace() for c in token):
                raise ValueError(f"{path}: {token!r} cannot be an id or word (empty or spaced)")
        text = " ".join(words)
        lines.append(f"{key} {text}".rstrip() + "\n")
    with atomic_write(Path(path)) as f:
        f.write("".join(lines))


def write_data_dir(
    path: str | os.PathLike,
    wav: Mapping[str, str],
    text: Mapping[str, Iterable[str]],
    utt2spk: Mapping[str, str],
) -> None:
    """Write ``wav.scp`` (utterance id -> WAV path), ``text``, ``utt2spk`` and ``spk2utt`` into
    the folder ``path`` (created), each atomically."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    write_table(folder / WAV_SCP, dict(wav))
    write_table(folder / TEXT, {u: tuple(w) for u, w in text.items()})
    write_table(folder / UTT2SPK, dict(utt2spk))
    write_table(folder / SPK2UTT, spk2utt)


def write_ctm(
    path: str | os.PathLike, rows: Iterable[tuple[str, float, float, str, float]]
) -> None:
    """Write a CTM file atomically: one ``<utterance-id> 1 <start> <duration> <word> <conf>``
    line per (utterance, start s, duration s, word, confidence) row, in the order given."""
    lines = [f"{u} 1 {s:.2f} {d:.2f} {w} {c:.4f}\n" for u, s, d, w, c in rows]
    with atomic_write(Path(path)) as f:
        f.write("".join(lines))
