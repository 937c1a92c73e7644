"""Experiments: synthesise the corpora, train MMI (HMM topology) and CTC acoustic models,
evaluate WER / SER on held-out speakers at each noise condition, write the table, the
checkpoints and figures. ``demo`` and the CLI call :func:`run`."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from factors.trainer import cosine_schedule

from .._common.report import markdown_table, print_written, write_results
from . import augment, corpus, evaluate, festival, figures
from .api import SpeechRecognizer
from .corpus import WORDS, CorpusSettings
from .data import PreparedSet, prepare, prepare_conditions
from .festival import FLITE_VOICES
from .graphs import Topology
from .network import TDNN
from .noise import CONDITIONS
from .train import train

TOPOLOGY_OF = {"mmi": "hmm", "ctc": "ctc"}
SCHEDULES = {"constant": lambda: None, "cosine": cosine_schedule}


@dataclass
class Config:
    train_utterances: int = 3000
    test_utterances: int = 600
    seed: int = 0
    epochs: int = 8
    batch_size: int = 16
    lr: float = 2e-3
    width: int = 192
    states_per_word: int = 4
    losses: tuple[str, ...] = ("mmi", "ctc")
    conditions: tuple[str, ...] = CONDITIONS
    telephone: float = 0.1  # fraction of training utterances band-limited to 300-3,400 Hz
    speakers: int | None = None  # use only the first n speakers of each split (None: all)
    cache_dir: str | None = None
    threads: int = 2
    workers: int = 2
    resume: bool = False  # continue interrupted training from OUT/<loss>.trainer.pt
    # White-noise floor (std, full scale 1) added before the STFT: espeak's pauses are digital
    # silence, whose log-mel features no recording has (the WER with and without it:
    # docs/results/speech.md, "Own synthesiser, earlier recipes").
    dither: float = 3e-4
    schedule: str = "cosine"  # learning rate by training progress: constant or cosine
    # Kaldi data directories read instead of synthesising the training / test corpus
    train_data: str | None = None
    test_data: str | None = None
    allow_wav_commands: bool = False  # run commands found in their wav.scp files
    # Festival utterances per voice for the held-out-synthesiser rows (0: none); evaluation
    # only, never training, tuning or model selection (:mod:`.festival`).
    festival: int = 0
    # Flite utterances per voice of ``flite_voices`` (some of :data:`.festival.FLITE_VOICES`)
    # added to the training corpus and augmented like it (0: none): a second training engine.
    flite: int = 0
    flite_voices: tuple[str, ...] = FLITE_VOICES
    # Training augmentation: comma-separated ingredients of :mod:`.augment` ("" none, "all"),
    # and how many augmented copies of each training utterance. Speed and VTLP by default: the
    # ingredients the held-out-synthesiser ablation kept; the others stay available by name.
    augment: str = "speed,vtlp"
    copies: int = 1


DEMO = Config(train_utterances=600, test_utterances=150, epochs=4)


def load_corpora(config: Config, progress: bool = True) -> tuple[corpus.Corpus, corpus.Corpus]:
    settings = CorpusSettings(speakers=config.speakers)
    # before espeak's synthesis, so that a missing flite fails at once
    flite = festival.flite_training(
        config.flite, config.seed, settings, config.cache_dir, config.flite_voices
    )
    sets = tuple(
        corpus.load_or_generate(
            split, n, config.seed, settings, config.cache_dir, config.workers, progress
        )
        if data is None
        else corpus.from_data_dir(data, config.allow_wav_commands)
        for split, n, data in (
            ("train", config.train_utterances, config.train_data),
            ("test", config.test_utterances, config.test_data),
        )
    )
    train_set, test_set = sets
    if flite:
        train_set = corpus.Corpus(train_set.split, train_set.utterances + flite)
    shared = train_set.speakers & test_set.speakers
    if shared and (config.train_data or config.test_data):
        raise ValueError(f"speakers in both the training and the test data: {sorted(shared)[:5]}")
    assert not shared, f"test speakers appear in training: {sorted(shared)[:5]}"
    return train_set, test_set


def evaluate_recognizer(
    recognizer: SpeechRecognizer, tests: dict[str, PreparedSet]
) -> dict[str, evaluate.Score]:
    """WER / SER of ``recognizer`` on each condition's prepared test set."""
    scores = {}
    for cond, data in tests.items():
        results = recognizer.recognize_features(data.features)
        refs = [[WORDS[w] for w in ws] for ws in data.words]
        scores[cond] = evaluate.score(refs, [r.words for r in results])
    return scores


TEST_NOISE_OFFSET = 1000  # noise seed offsets of the test conditions and of the festival rows
FESTIVAL_CONDITIONS = ("clean", "10dB")
FESTIVAL_NOISE_OFFSET = 3000


def festival_sets(
    n: int, seed: int, dither: float, cache_dir=None, progress: bool = False
) -> dict[str, dict[str, PreparedSet]] | None:
    """Features of ``n`` festival utterances per installed voice at each of
    :data:`FESTIVAL_CONDITIONS`: voice -> condition -> set; None when ``n`` is 0, or (after a
    one-line message) when festival is not installed."""
    if not n:
        return None
    if not festival.available():
        print(festival.MISSING)
        return None
    corpora = festival.load_or_generate(n, seed, cache_dir=cache_dir)
    noise_seed = seed + FESTIVAL_NOISE_OFFSET
    return {
        v: prepare_conditions(data, FESTIVAL_CONDITIONS, noise_seed, dither, progress)
        for v, data in corpora.items()
    }


def pool(scores: list[evaluate.Score]) -> evaluate.Score:
    """One score over the union of the scored utterances."""
    return sum(scores, evaluate.Score(0, 0, 0, 0))


def evaluate_festival(
    recognizer: SpeechRecognizer, sets: dict[str, dict[str, PreparedSet]]
) -> dict[str, evaluate.Score]:
    """Cells "festival <condition>" (all voices pooled) and "<voice> <condition>" of
    ``recognizer`` on :func:`festival_sets`."""
    cells = {
        f"{v} {c}": s
        for v, by_cond in sets.items()
        for c, s in evaluate_recognizer(recognizer, by_cond).items()
    }
    return pool_voices(cells) | cells


def pool_voices(cells: dict[str, evaluate.Score]) -> dict[str, evaluate.Score]:
    """Cells "festival <condition>" pooling the "<voice> <condition>" ones of ``cells``."""
    pools = {c: [s for k, s in cells.items() if k.endswith(f" {c}")] for c in FESTIVAL_CONDITIONS}
    return {f"festival {c}": pool(scores) for c, scores in pools.items()}


def format_targets(rows: dict[str, dict[str, evaluate.Score]]) -> str:
    """Markdown table, one column per system, of WER clean / 10 dB on the held-out espeak
    speakers, on festival (pooled), and on each festival voice; a cell a system was not scored
    on prints as "-"."""
    voices = list(dict.fromkeys(
        k.rsplit(" ", 1)[0] for cells in rows.values() for k in cells
        if " " in k and not k.startswith("festival ")
    ))  # fmt: skip

    def pair(cells: dict, prefix: str) -> str:
        keys = (f"{prefix}clean", f"{prefix}10dB")
        return " / ".join(f"{cells[k].wer:.2%}" if k in cells else "-" for k in keys)

    which = [("held-out espeak-ng speakers", ""), ("festival voices", "festival ")]
    which += [(f"festival {v}", f"{v} ") for v in voices]
    body = [[label, *(pair(c, prefix) for c in rows.values())] for label, prefix in which]
    return markdown_table(["WER clean / 10 dB", *rows], body)


def run(config: Config, out: Path, progress: bool = True) -> dict:
    """Train every loss of ``config``, evaluate, write results and figures to ``out``."""
    torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    say = print if progress else (lambda *a, **k: None)
    augmentation = augment.parse(config.augment)  # a bad name fails before any synthesis
    train_set, test_set = load_corpora(config, progress)
    say(
        f"data: {len(train_set)} training utterances ({train_set.seconds() / 60:.1f} min, "
        f"{len(train_set.speakers)} speakers), {len(test_set)} test utterances "
        f"({len(test_set.speakers)} held-out speakers) [{time.time() - t0:.0f}s]"
    )
    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {config.schedule!r}: use {' or '.join(SCHEDULES)}")
    train_p = prepare(
        train_set,
        config.conditions,
        config.seed,
        config.telephone,
        progress,
        config.dither,
        augmentation,
        config.copies,
    )
    tests = prepare_conditions(
        test_set, config.conditions, config.seed + TEST_NOISE_OFFSET, config.dither, progress
    )
    held_out = festival_sets(
        config.festival, config.seed, config.dither, config.cache_dir, progress
    )
    say(f"features ready [{time.time() - t0:.0f}s]")
    rows, histories, seconds, recognizers = {}, {}, {}, {}
    for loss in config.losses:
        topology = Topology(TOPOLOGY_OF[loss], config.states_per_word)
        torch.manual_seed(config.seed)
        model = TDNN(topology.num_columns, width=config.width)
        t1 = time.time()
        histories[loss] = train(
            model,
            topology,
            train_p,
            loss,
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
            checkpoint=out / f"{loss}.trainer.pt",
            resume=config.resume,
            progress=progress,
            schedule=SCHEDULES[config.schedule](),
            augmentation=augmentation,
        )
        seconds[loss] = time.time() - t1
        recognizers[loss] = SpeechRecognizer(model, topology, dither=config.dither)
        recognizers[loss].save(out / f"{loss}.pt")
        rows[loss] = evaluate_recognizer(recognizers[loss], tests)
        if held_out is not None:
            rows[loss] |= evaluate_festival(recognizers[loss], held_out)
        say(f"{loss} trained in {seconds[loss]:.0f}s; evaluated [{time.time() - t0:.0f}s]")
    table = evaluate.format_table(rows) + "\n\n" + format_targets(rows)
    say(table)
    record = {
        "config": asdict(config),
        "seconds": time.time() - t0,
        "train_seconds": seconds,
        "train_minutes_of_audio": train_set.seconds() / 60,
        "history": histories,
        "rows": {k: {c: asdict(s) | {"wer": s.wer, "ser": s.ser} for c, s in v.items()}
                 for k, v in rows.items()},
    }  # fmt: skip
    written = write_results(out, table, record)
    for loss, rec in recognizers.items():
        written += figures.alignment_figures(test_set, rec, out, loss)
    written.append(figures.training_figure(histories, out / "training.png"))
    print_written(say, out, written, time.time() - t0)
    return rows
