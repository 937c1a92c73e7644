"""What each subcommand of ``ebgtn speech`` does, as functions of plain values: :mod:`.cli`
parses the arguments and calls one of these (``demo`` and ``train`` call
:func:`.experiment.run`)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import torch

from gtn.utils import atomic_write

# api.SpeechRecognizer is looked up at each call, so that a caller (a test) may replace it
from . import api, corpus, evaluate, figures, kaldi, tune
from .corpus import WORDS, CorpusSettings
from .data import PreparedSet, prepare
from .experiment import (
    Config,
    evaluate_festival,
    evaluate_recognizer,
    festival_sets,
    format_targets,
    load_corpora,
)
from .features import SAMPLE_RATE
from .wav_commands import COMMAND_TIMEOUT

TEST_NOISE_OFFSET = 1000  # noise seed offset of the test conditions, as in experiment.run


def generate_corpus(
    split: str,
    utterances: int,
    seed: int,
    speakers: int | None = None,
    cache_dir: str | None = None,
    data_dir: str | None = None,
    progress: bool = True,
) -> corpus.Corpus:
    """Synthesise (or load from the cache) a corpus; print its size; also write it as a Kaldi
    data directory when ``data_dir`` is given."""
    settings = CorpusSettings(speakers=speakers)
    c = corpus.load_or_generate(split, utterances, seed, settings, cache_dir, 2, progress)
    print(
        f"{split}: {len(c)} utterances, {c.seconds() / 60:.1f} min of audio, "
        f"{len(c.speakers)} speakers"
    )
    if data_dir:
        folder = corpus.write_data_dir(c, data_dir)
        print(f"wrote a Kaldi data directory of {len(c)} utterances to {folder} (wav/, wav.scp, "
              "text, utt2spk, spk2utt)")  # fmt: skip
    return c


class _ByDither(dict):
    """Feature sets computed once per feature dither (each checkpoint says its own)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, dither: float):
        self[dither] = value = self.make(dither)
        return value


def evaluate_checkpoints(
    config: Config,
    checkpoints: list[str],
    out: Path,
    data: str | None = None,
    word_penalty: float | None = None,
    progress: bool = True,
) -> str:
    """WER / SER of saved recognisers at each test condition (and on festival's voices when
    ``config.festival``), word-start offsets on clean audio, two alignment figures each;
    printed and written to ``out/evaluation.md``. ``data``: a Kaldi data directory to test on
    instead of the synthesised test speakers. Returns the text."""
    if data:
        test = corpus.from_data_dir(data, config.allow_wav_commands)
    else:
        test = load_corpora(replace(config, train_utterances=1), progress=progress)[1]
    seed = config.seed + TEST_NOISE_OFFSET
    tests = _ByDither(
        lambda d: {c: prepare(test, (c,), seed, 0.0, progress, d) for c in config.conditions}
    )
    voices = _ByDither(
        lambda d: festival_sets(config.festival, config.seed, d, config.cache_dir, progress)
    )
    out.mkdir(parents=True, exist_ok=True)
    rows, timing = {}, []
    for path in checkpoints:
        recognizer = api.SpeechRecognizer.load(path, word_penalty=word_penalty)
        name = f"{Path(path).stem} (word penalty {recognizer.word_penalty:g})"
        rows[name] = evaluate_recognizer(recognizer, tests[recognizer.dither])
        if config.festival and voices[recognizer.dither] is not None:
            rows[name] |= evaluate_festival(recognizer, voices[recognizer.dither])
        if "clean" in tests[recognizer.dither]:
            timing += timing_lines(name, recognizer, tests[recognizer.dither]["clean"])
        for i in range(min(2, len(test))):
            figures.alignment_figure(
                test.utterances[i], recognizer, out / f"alignment_{name}_{i}.png"
            )
    table = evaluate.format_table(rows)
    if config.festival:
        table += "\n\n" + format_targets(rows)
    source, speakers = (f" from {data}", "speakers") if data else ("", "held-out speakers")
    head = f"{len(test)} test utterances{source}, {len(test.speakers)} {speakers}"
    text = "\n\n".join([head, table, *timing]) + "\n"
    print(text, end="")
    with atomic_write(out / "evaluation.md") as f:
        f.write(text)
    print(f"wrote {out / 'evaluation.md'} and alignment figures")
    return text


def timing_lines(name: str, recognizer: api.SpeechRecognizer, clean: PreparedSet) -> list[str]:
    """How far decoded word starts fall from the true ones, over the exactly recognised
    utterances of ``clean`` (none when no utterance has true times)."""
    res = recognizer.recognize_features(clean.features)
    refs = [[WORDS[w] for w in ws] for ws in clean.words]
    d = evaluate.start_offsets(refs, [r.words for r in res], [r.starts for r in res],
                               clean.word_starts)  # fmt: skip
    return [evaluate.format_offsets(name, d)] if d.size else []


def score_files(ref: str, hyp: str, utt2spk: str | None = None, out: str | None = None) -> str:
    """Score a hypothesis text file against a reference one (Kaldi ``compute-wer``'s lines
    and a table by speaker); print it, and write it to ``out`` if given."""
    refs = kaldi.read_text(ref)
    hyps, lines = kaldi.read_text(hyp, with_lines=True)
    speakers = kaldi.read_utt2spk(utt2spk) if utt2spk else None
    text = evaluate.format_scoring(evaluate.score_texts(refs, hyps, speakers, lines)) + "\n"
    print(text, end="")
    if out:
        with atomic_write(Path(out)) as f:
            f.write(text)
        print(f"wrote {out}")
    return text


def tune_checkpoints(
    config: Config,
    checkpoints: list[str],
    grid: list[float],
    out: Path,
    dev_utterances: int,
    data: str | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Pick each recogniser's word penalty on a dev set (new utterances of training speakers,
    or the data directory ``data``); write ``out/<name>_tuned.pt`` and ``out/tuning_<name>.md``
    (a checkpoint about to be overwritten is first copied to ``<name>_tuned.orig.pt``).
    Returns name -> best penalty."""
    torch.set_num_threads(config.threads)
    if data:
        dev = corpus.from_data_dir(data, config.allow_wav_commands)
        source = f"from {data}"
    else:
        settings = CorpusSettings(speakers=config.speakers)
        dev = tune.dev_corpus(
            dev_utterances, config.seed, settings, config.cache_dir, config.workers, progress
        )
        source = f"(new, seed {config.seed + tune.DEV_SEED_OFFSET})"
    sets = _ByDither(lambda d: tune.dev_sets(dev, config.conditions, config.seed, progress, d))
    out.mkdir(parents=True, exist_ok=True)
    best = {}
    for path in checkpoints:
        name = Path(path).stem
        recognizer = api.SpeechRecognizer.load(path)
        rows = tune.sweep(recognizer, sets[recognizer.dither], grid)
        best[name] = tune.best_penalty(rows)
        text = (
            f"{name}: word penalty on {len(dev)} dev utterances {source} of "
            f"{len(dev.speakers)} {'' if data else 'training '}speakers; best {best[name]:g} "
            "(lowest mean WER)\n\n" + tune.format_sweep(rows) + "\n"
        )
        print(text)
        with atomic_write(out / f"tuning_{name}.md") as f:
            f.write(text)
        target = out / f"{name}_tuned.pt"
        if Path(path).resolve() == target.resolve():
            shutil.copy2(path, target.with_suffix(".orig.pt"))
        recognizer.word_penalty = best[name]
        recognizer.save(target)
        print(f"wrote {target} (word_penalty {best[name]:g}) and {out / f'tuning_{name}.md'}")
    return best


def decode_inputs(
    checkpoint: str,
    inputs: list[str],
    out: str | None = None,
    beam: float = 16.0,
    word_penalty: float | None = None,
    num_hypotheses: int = 0,
    allow_wav_commands: bool = False,
    command_timeout: float = COMMAND_TIMEOUT,
    quiet: bool = False,
) -> dict[str, list[str]]:
    """Recognise WAV files, folders, wav.scp files or data directories; print words,
    confidence and word timings (unless ``quiet``), and write ``out/text`` and ``out/ctm``
    when ``out`` is given. Returns utterance -> words."""
    recognizer = api.SpeechRecognizer.load(checkpoint, beam=beam, word_penalty=word_penalty)
    # every input is checked (headers, tables) before anything is decoded
    items = kaldi.utterances_of(inputs, allow_wav_commands, command_timeout)
    hyps, ctm = {}, []
    for utt, label, data in items:  # one utterance in memory at a time
        r = recognizer.recognize([data.audio(utt)], SAMPLE_RATE, num_hypotheses=num_hypotheses)[0]
        hyps[utt] = r.words
        # the confidence column is the posterior of the utterance's whole best word string
        ctm += [(utt, s, e - s, w, r.confidence)
                for w, s, e in zip(r.words, r.starts, r.ends, strict=True)]  # fmt: skip
        if not quiet:
            print(f"{label}\t{r.text}\tconfidence {r.confidence:.4f}")
            for w, s, e in zip(r.words, r.starts, r.ends, strict=True):
                print(f"  {s:7.2f} {e:7.2f}  {w}")
            for text, posterior in r.hypotheses:
                print(f"  n-best {posterior:.4f}  {text}")
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        kaldi.write_table(folder / "text", hyps)
        kaldi.write_ctm(folder / "ctm", ctm)
        print(f"wrote {folder / 'text'} and {folder / 'ctm'} ({len(hyps)} utterances)")
    return hyps
