"""What each subcommand of ``ebgtn speech`` does, as functions of plain values: :mod:`.cli`
parses the arguments and calls one of these (``demo`` and ``train`` call
:func:`.experiment.run`)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import torch

from gtn.utils import atomic_write

# api.SpeechRecognizer is looked up at each call, so that a caller (a test) may replace it
from . import api, corpus, evaluate, features, festival, figures, kaldi, tempo, tune, vtln
from .corpus import WORDS, CorpusSettings
from .data import PreparedSet, condition_waveform, prepare_conditions
from .experiment import (
    FESTIVAL_CONDITIONS,
    FESTIVAL_NOISE_OFFSET,
    TEST_NOISE_OFFSET,
    Config,
    evaluate_festival,
    evaluate_recognizer,
    festival_sets,
    format_targets,
    load_corpora,
    pool_voices,
)
from .features import SAMPLE_RATE
from .wav_commands import COMMAND_TIMEOUT


def generate_corpus(
    split: str,
    utterances: int,
    seed: int,
    speakers: int | None = None,
    cache_dir: str | None = None,
    data_dir: str | None = None,
    progress: bool = True,
    flite_voice: str | None = None,
) -> corpus.Corpus:
    """Synthesise (or load from the cache) a corpus, of espeak-ng's ``split`` or of one flite
    voice; print its size; also write it as a Kaldi data directory when ``data_dir`` is given."""
    settings = CorpusSettings(speakers=speakers)
    if flite_voice:
        by_voice = festival.flite_corpora(utterances, seed, settings, cache_dir, (flite_voice,))
        c, split = by_voice[flite_voice], f"flite {flite_voice}"
    else:
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


def evaluate_checkpoints(
    config: Config,
    checkpoints: list[str],
    out: Path,
    data: str | None = None,
    word_penalty: float | None = None,
    progress: bool = True,
    vtln_grouping: str | None = None,
    warps: tuple[float, ...] = vtln.GRID,
    tempo_grouping: str | None = None,
) -> str:
    """WER / SER of saved recognisers at each test condition (and on festival's voices when
    ``config.festival``), word-start offsets on clean audio, two alignment figures each;
    printed and written to ``out/evaluation.md``. ``data``: a Kaldi data directory to test on
    instead of the synthesised test speakers. ``vtln_grouping`` "speaker" or "utterance":
    also a row per recogniser with test-time VTLN (:mod:`.vtln`, warps chosen from ``warps``
    per speaker or per utterance), its chosen warps summarised in the text and listed in
    ``out/vtln_<name>.md``. ``tempo_grouping`` likewise: a row with test-time tempo
    normalisation (:mod:`.tempo`; after VTLN when both are asked for), its rates listed in
    ``out/tempo_<name>.md``. Returns the text."""
    if data:
        test = corpus.from_data_dir(data, config.allow_wav_commands)
    else:
        test = load_corpora(replace(config, train_utterances=1), progress=progress)[1]
    seed = config.seed + TEST_NOISE_OFFSET
    # feature sets are made once per feature dither (each checkpoint says its own)
    tests = cache(lambda d: prepare_conditions(test, config.conditions, seed, d, progress))
    voices = cache(
        lambda d: festival_sets(config.festival, config.seed, d, config.cache_dir, progress)
    )
    out.mkdir(parents=True, exist_ok=True)
    rows, timing, chosen = {}, [], []
    for path in checkpoints:
        recognizer = api.SpeechRecognizer.load(path, word_penalty=word_penalty)
        name = f"{Path(path).stem} (word penalty {recognizer.word_penalty:g})"
        rows[name] = evaluate_recognizer(recognizer, tests(recognizer.dither))
        with_festival = voices(recognizer.dither) is not None
        if with_festival:
            rows[name] |= evaluate_festival(recognizer, voices(recognizer.dither))
        if vtln_grouping or tempo_grouping:
            sets = {c: (test, c, seed) for c in config.conditions}
            if with_festival:
                by_voice = festival.load_or_generate(config.festival, config.seed,
                                                     cache_dir=config.cache_dir)  # fmt: skip
                fseed = config.seed + FESTIVAL_NOISE_OFFSET
                sets |= {f"{v} {c}": (by_voice[v], c, fseed) for v in by_voice
                         for c in FESTIVAL_CONDITIONS}  # fmt: skip
            found = normalised_cells(recognizer, sets, vtln_grouping, warps, tempo_grouping)
            for what, (suffix, cells, selections) in found.items():
                label = f"{name} + {suffix}"
                rows[label] = {k: cells[k] for k in rows[name]}
                chosen.append(f"{what.capitalize()}s chosen by {label}:\n\n"
                              + vtln.format_selection(selections, what))  # fmt: skip
                stem = "tempo" if what == "rate" else "vtln"
                write_selections(out / f"{stem}_{Path(path).stem}.md", label, selections, what)
        if "clean" in tests(recognizer.dither):
            timing += timing_lines(name, recognizer, tests(recognizer.dither)["clean"])
        figures.alignment_figures(test, recognizer, out, name)
    table = evaluate.format_table(rows)
    if config.festival:
        table += "\n\n" + format_targets(rows)
    source, speakers = (f" from {data}", "speakers") if data else ("", "held-out speakers")
    head = f"{len(test)} test utterances{source}, {len(test.speakers)} {speakers}"
    text = "\n\n".join([head, table, *chosen, *timing]) + "\n"
    print(text, end="")
    with atomic_write(out / "evaluation.md") as f:
        f.write(text)
    print(f"wrote {out / 'evaluation.md'} and alignment figures")
    return text


def normalised_cells(
    recognizer: api.SpeechRecognizer,
    sets: dict[str, tuple[corpus.Corpus, str, int]],
    vtln_grouping: str | None = None,
    warps: tuple[float, ...] = vtln.GRID,
    tempo_grouping: str | None = None,
) -> dict[str, tuple[dict[str, evaluate.Score], dict]]:
    """Scores and selections of ``recognizer`` with test-time normalisation on each set: cell
    name -> (corpus, condition, noise seed), the audio being exactly what
    :func:`.data.prepare` makes of it with that seed (:func:`.data.condition_waveform`).
    Returns "warp" -> ("VTLN per <grouping>", cell -> score, cell -> :class:`.vtln.Selection`)
    when ``vtln_grouping``; "rate" -> ("tempo per <grouping>", or "VTLN per <g> + tempo per
    <g>" when both, ...) when ``tempo_grouping``. Cells "<voice> <condition>" of festival are
    also pooled into "festival <condition>", as :func:`.experiment.evaluate_festival` does."""
    labels = {"warp": f"VTLN per {vtln_grouping}"} if vtln_grouping else {}
    if tempo_grouping:
        labels["rate"] = " + ".join([*labels.values(), f"tempo per {tempo_grouping}"])
    found = {what: (label, {}, {}) for what, label in labels.items()}
    for cell, (data, condition, noise_seed) in sets.items():
        utts = data.utterances
        refs = [[WORDS[w] for w in u.words] for u in utts]
        speakers = [u.speaker for u in utts]

        def features_at(warp, which, utts=utts, condition=condition, seed=noise_seed):
            # one utterance's audio at a time: a set's waveforms are not all held in memory
            waves = (condition_waveform(utts[i].audio, condition, seed, i) for i in which)
            return [features.log_mel(x, recognizer.dither, warp) for x in waves]

        groups = {g: vtln.group_keys(speakers, len(utts), g) for g in vtln.GROUPINGS}
        steps = _normalise(recognizer, features_at, groups, vtln_grouping, warps, tempo_grouping)
        for what, (selection, results) in steps.items():
            found[what][1][cell] = evaluate.score(refs, [r.words for r in results])
            found[what][2][cell] = selection
    for _, cells, _ in found.values():
        cells |= pool_voices(cells)
    return found


def _normalise(
    recognizer, features_at, groups, vtln_grouping, warps, tempo_grouping, num_hypotheses=0
):
    """{"warp": VTLN's (selection, recognitions)} when ``vtln_grouping``, then {"rate": tempo's,
    chosen at the chosen warps} when ``tempo_grouping``, of the utterances ``features_at(warp,
    which)`` gives (:func:`.vtln.choose`); ``groups``: grouping -> each utterance's group."""
    steps, warp_of = {}, [1.0] * len(groups["utterance"])
    if vtln_grouping:
        hyps = 0 if tempo_grouping else num_hypotheses  # tempo decodes them after
        steps["warp"] = vtln.choose(
            recognizer, features_at, groups[vtln_grouping], warps, num_hypotheses=hyps
        )
        warp_of = [r.warp for r in steps["warp"][1]]
    if tempo_grouping:
        feats = [features_at(w, [i])[0] for i, w in enumerate(warp_of)]
        steps["rate"] = tempo.choose(
            recognizer, feats, groups[tempo_grouping], num_hypotheses=num_hypotheses
        )
        for r, w in zip(steps["rate"][1], warp_of, strict=True):
            r.warp = w
    return steps


def write_selections(path: Path, label: str, selections: dict, what: str = "warp") -> None:
    """Every group's chosen ``what`` ("warp": :class:`.vtln.Selection`s; "rate":
    :class:`.vtln.Selection`s) and its best-path energy per frame at 1 and at the chosen
    value, one table per set (markdown, written atomically)."""
    from .._common.report import markdown_table

    parts = [f"# {label}: chosen {what}s"]
    for cell, s in selections.items():
        grid = s.grid
        one = grid.index(1.0) if 1.0 in grid else None
        rows = [[g, s.utterances[g], f"{s.chosen[g]:.2f}",
                 "-" if one is None else f"{s.scores[k, one]:.4f}",
                 f"{s.scores[k, grid.index(s.chosen[g])]:.4f}"]
                for k, g in enumerate(s.groups)]  # fmt: skip
        head = ["group", "utterances", what, "energy/frame at 1", f"at {what}"]
        parts += [f"## {cell}", markdown_table(head, rows)]
    with atomic_write(path) as f:
        f.write("\n\n".join(parts) + "\n")


def timing_lines(name: str, recognizer: api.SpeechRecognizer, clean: PreparedSet) -> list[str]:
    """How far decoded word starts fall from the true ones (median and median size), over the
    exactly recognised utterances of ``clean`` (no line when no utterance has true times)."""
    res = recognizer.recognize_features(clean.features)
    refs = [[WORDS[w] for w in ws] for ws in clean.words]
    d = evaluate.start_offsets(refs, [r.words for r in res], [r.starts for r in res],
                               clean.word_starts)  # fmt: skip
    if not d.size:
        return []
    median, size = np.median(d) * 1000, np.median(np.abs(d)) * 1000
    return [
        f"{name}: decoded - true word start over {d.size} words of exactly recognised clean "
        f"utterances: median {median:+.0f} ms, median |diff| {size:.0f} ms"
    ]


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
    seed = config.seed + tune.DEV_NOISE_OFFSET
    sets = cache(lambda d: prepare_conditions(dev, config.conditions, seed, d, progress))
    out.mkdir(parents=True, exist_ok=True)
    best = {}
    for path in checkpoints:
        name = Path(path).stem
        recognizer = api.SpeechRecognizer.load(path)
        rows = tune.sweep(recognizer, sets(recognizer.dither), grid)
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
    vtln_grouping: str | None = None,
    warps: tuple[float, ...] = vtln.GRID,
    tempo_grouping: str | None = None,
) -> dict[str, list[str]]:
    """Recognise WAV files, folders, wav.scp files or data directories; print words,
    confidence and word timings (unless ``quiet``), and write ``out/text`` and ``out/ctm``
    when ``out`` is given. ``vtln_grouping`` "speaker" (a data directory's ``utt2spk``; a
    file or a wav.scp line is its own speaker) or "utterance": choose a warp per group
    (:mod:`.vtln`) and decode with it, one group's audio in memory at a time; the warps are
    printed and written to ``out/spk2warp`` (or ``out/utt2warp``). ``tempo_grouping``
    likewise chooses a tempo rate per group (:mod:`.tempo`; after the warp when both are
    asked for), written to ``out/spk2rate`` (or ``out/utt2rate``). Returns utterance ->
    words."""
    recognizer = api.SpeechRecognizer.load(checkpoint, beam=beam, word_penalty=word_penalty)
    # every input is checked (headers, tables) before anything is decoded
    items = kaldi.utterances_of(inputs, allow_wav_commands, command_timeout)
    normalised, chosen = {}, {}
    if vtln_grouping or tempo_grouping:
        normalised, chosen = _decode_normalised(
            recognizer, items, vtln_grouping, warps, tempo_grouping, num_hypotheses
        )
    hyps, ctm = {}, []
    for utt, label, data in items:  # without VTLN or tempo, one utterance in memory at a time
        if normalised:
            r = normalised[utt]
        else:
            r = recognizer.recognize([data.audio(utt)], SAMPLE_RATE,
                                     num_hypotheses=num_hypotheses)[0]  # fmt: skip
        hyps[utt] = r.words
        # the confidence column is the posterior of the utterance's whole best word string
        ctm += [(utt, s, e - s, w, r.confidence)
                for w, s, e in zip(r.words, r.starts, r.ends, strict=True)]  # fmt: skip
        if not quiet:
            warp = f"\twarp {r.warp:g}" if vtln_grouping else ""
            warp += f"\trate {r.rate:g}" if tempo_grouping else ""
            print(f"{label}\t{r.text}\tconfidence {r.confidence:.4f}{warp}")
            for w, s, e in zip(r.words, r.starts, r.ends, strict=True):
                print(f"  {s:7.2f} {e:7.2f}  {w}")
            for text, posterior in r.hypotheses:
                print(f"  n-best {posterior:.4f}  {text}")
    tables = {f"{'spk' if grouping == 'speaker' else 'utt'}2{what}": chosen[what]
              for what, grouping in (("warp", vtln_grouping), ("rate", tempo_grouping))
              if grouping}  # fmt: skip
    if not quiet:
        for table, values in tables.items():
            v = np.array(list(values.values()))
            who = "speakers" if table.startswith("spk") else "utterances"
            print(f"{'VTLN' if table.endswith('warp') else 'Tempo'}: {len(v)} {who}, "
                  f"{table[4:]}s {v.min():g} to {v.max():g} (mean {v.mean():.3f})")  # fmt: skip
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        kaldi.write_table(folder / "text", hyps)
        kaldi.write_ctm(folder / "ctm", ctm)
        for table, values in tables.items():
            kaldi.write_table(folder / table, {g: f"{w:g}" for g, w in values.items()})
        names = [str(folder / name) for name in ("text", "ctm", *tables)]
        print(f"wrote {', '.join(names[:-1])} and {names[-1]} ({len(hyps)} utterances)")
    return hyps


def _decode_normalised(recognizer, items, vtln_grouping, warps, tempo_grouping, num_hypotheses):
    """(utterance -> Recognition, {"warp": group -> warp, "rate": group -> rate}) of
    :func:`decode_inputs`'s items with VTLN and/or tempo normalisation, one speaker's audio
    in memory at a time (one utterance's when both groupings are per utterance)."""
    outer = "speaker" if "speaker" in (vtln_grouping, tempo_grouping) else "utterance"
    groups: dict[str, list] = {}
    for utt, _, data in items:
        key = data.utt2spk[utt] if outer == "speaker" else utt
        groups.setdefault(key, []).append((utt, data))
    results, chosen = {}, {"warp": {}, "rate": {}}
    for key, members in groups.items():
        utts = [utt for utt, _ in members]
        waves = [api.check_waveform(data.audio(utt), i) for i, (utt, data) in enumerate(members)]
        keys = {"speaker": [key] * len(utts), "utterance": utts}

        def features_at(warp, which, waves=waves):
            return [features.log_mel(waves[i], recognizer.dither, warp) for i in which]

        steps = _normalise(
            recognizer, features_at, keys, vtln_grouping, warps, tempo_grouping, num_hypotheses
        )
        for what, (selection, _) in steps.items():
            chosen[what] |= selection.chosen
        decoded = steps["rate" if tempo_grouping else "warp"][1]
        results |= dict(zip(utts, decoded, strict=True))
    return results, chosen
