"""``ebgtn speech generate|train|evaluate|decode|demo`` (also ``python -m apps.speech``).

generate  synthesise (and cache) a corpus; optionally write its utterances as WAV files
train     train MMI and CTC recognisers, evaluate on held-out speakers, write figures
demo      the same on a small corpus and a short schedule (well under 15 minutes on 2 cores)
evaluate  WER / SER of saved recognisers on held-out speakers at each noise condition
tune      pick the word-insertion penalty on a dev set of training speakers; save it
decode    recognise WAV files: words, confidence and word timings
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

_CONFIG_NAMES = (
    "train_utterances",
    "test_utterances",
    "seed",
    "epochs",
    "batch_size",
    "lr",
    "width",
    "states_per_word",
    "speakers",
    "telephone",
    "cache_dir",
    "resume",
    "threads",
    "dither",
    "schedule",
    "festival",
    "augment",
    "copies",
)


def _config(args):
    from .experiment import DEMO, Config

    base = DEMO if args.command_name == "demo" else Config()
    changes = {k: getattr(args, k) for k in _CONFIG_NAMES if getattr(args, k, None) is not None}
    if getattr(args, "losses", None):
        changes["losses"] = tuple(args.losses.split(","))
    if getattr(args, "conditions", None):
        changes["conditions"] = tuple(args.conditions.split(","))
    return replace(base, **changes)


def _run(args) -> int:
    from .experiment import run

    run(_config(args), Path(args.out), progress=not args.quiet)
    return 0


def _generate(args) -> int:
    from scipy.io import wavfile

    from gtn._atomic import atomic_write

    from . import corpus

    settings = corpus.CorpusSettings(speakers=args.speakers)
    c = corpus.load_or_generate(
        args.split, args.utterances, args.seed, settings, args.cache_dir, 2, not args.quiet
    )
    print(
        f"{args.split}: {len(c)} utterances, {c.seconds() / 60:.1f} min of audio, "
        f"{len(c.speakers)} speakers"
    )
    if args.wav_dir:
        folder = Path(args.wav_dir)
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, u in enumerate(c.utterances):
            name = f"{args.split}_{i:05d}.wav"
            with atomic_write(folder / name, "wb") as f:
                wavfile.write(f, corpus.SAMPLE_RATE, u.audio)
            starts = " ".join(f"{t:.3f}" for t in u.word_starts)
            lines.append(f"{name}\t{u.text}\t{u.speaker}\t{starts}\n")
        with atomic_write(folder / "transcripts.tsv") as f:
            f.write("file\twords\tspeaker\tword starts (s)\n" + "".join(lines))
        print(f"wrote {len(c)} WAV files and transcripts.tsv to {folder}")
    return 0


def _evaluate(args) -> int:
    from gtn._atomic import atomic_write

    from . import evaluate, figures
    from .corpus import WORDS
    from .experiment import (
        evaluate_festival,
        evaluate_recognizer,
        festival_sets,
        format_targets,
        load_corpora,
    )
    from .recognizer import SpeechRecognizer
    from .train import prepare

    config = replace(_config(args), train_utterances=1)
    _, test = load_corpora(config, progress=not args.quiet)
    by_dither: dict[float, dict] = {}  # test features for each checkpoint's dither

    def test_sets(dither: float) -> dict:
        if dither not in by_dither:
            by_dither[dither] = {
                c: prepare(test, (c,), config.seed + 1000, 0.0, not args.quiet, dither)
                for c in config.conditions
            }
        return by_dither[dither]

    by_dither_festival: dict[float, dict | None] = {}

    def festival_rows(recognizer) -> dict:
        d = recognizer.dither
        if d not in by_dither_festival:
            by_dither_festival[d] = festival_sets(
                config.festival, config.seed, d, config.cache_dir, not args.quiet
            )
        sets = by_dither_festival[d]
        return {} if sets is None else evaluate_festival(recognizer, sets)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, timing = {}, []
    for path in args.checkpoints:
        name = Path(path).stem
        recognizer = SpeechRecognizer.load(path, word_penalty=args.word_penalty)
        tests = test_sets(recognizer.dither)
        name += f" (word penalty {recognizer.word_penalty:g})"
        rows[name] = evaluate_recognizer(recognizer, tests)
        if config.festival:
            rows[name] |= festival_rows(recognizer)
        clean = tests.get("clean")
        if clean is not None:
            res = recognizer.recognize_features(clean.features)
            refs = [[WORDS[w] for w in ws] for ws in clean.words]
            d = evaluate.start_offsets(
                refs, [r.words for r in res], [r.starts for r in res], clean.word_starts
            )
            if d.size:
                timing.append(
                    f"{name}: decoded - true word start over {d.size} words of exactly "
                    f"recognised clean utterances: median {np.median(d) * 1000:+.0f} ms, "
                    f"median |diff| {np.median(np.abs(d)) * 1000:.0f} ms"
                )
        for i in range(min(2, len(test))):
            figures.alignment_figure(
                test.utterances[i], recognizer, out / f"alignment_{name}_{i}.png"
            )
    table = evaluate.format_table(rows)
    if config.festival:
        table += "\n\n" + format_targets(rows)
    head = f"{len(test)} test utterances, {len(test.speakers)} held-out speakers"
    text = "\n\n".join([head, table, *timing]) + "\n"
    print(text, end="")
    with atomic_write(out / "evaluation.md") as f:
        f.write(text)
    print(f"wrote {out / 'evaluation.md'} and alignment figures")
    return 0


def _tune(args) -> int:
    import shutil

    import torch

    from gtn._atomic import atomic_write

    from . import tune
    from .corpus import CorpusSettings
    from .recognizer import SpeechRecognizer

    config = _config(args)
    torch.set_num_threads(config.threads)
    grid = [float(x) for x in args.penalties.split(",")]
    dev = tune.dev_corpus(
        args.dev_utterances,
        config.seed,
        CorpusSettings(speakers=config.speakers),
        config.cache_dir,
        config.workers,
        not args.quiet,
    )
    by_dither: dict[float, dict] = {}  # dev features for each checkpoint's dither
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.checkpoints:
        name = Path(path).stem
        recognizer = SpeechRecognizer.load(path)
        if recognizer.dither not in by_dither:
            by_dither[recognizer.dither] = tune.dev_sets(
                dev, config.conditions, config.seed, not args.quiet, recognizer.dither
            )
        sets = by_dither[recognizer.dither]
        rows = tune.sweep(recognizer, sets, grid)
        best = tune.best_penalty(rows)
        head = (
            f"{name}: word penalty on {len(dev)} dev utterances (new, seed "
            f"{config.seed + tune.DEV_SEED_OFFSET}) of {len(dev.speakers)} training speakers; "
            f"best {best:g} (lowest mean WER)"
        )
        text = head + "\n\n" + tune.format_sweep(rows) + "\n"
        print(text)
        with atomic_write(out / f"tuning_{name}.md") as f:
            f.write(text)
        target = out / f"{name}_tuned.pt"
        if Path(path).resolve() == target.resolve():
            shutil.copy2(path, target.with_suffix(".orig.pt"))
        recognizer.word_penalty = best
        recognizer.save(target)
        print(f"wrote {target} (word_penalty {best:g}) and {out / f'tuning_{name}.md'}")
    return 0


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """(float waveform [N] in [-1, 1], sample rate) of a WAV file, channels averaged; the
    header is checked first (see apps._common.media.read_wav)."""
    from .._common.media import read_wav as read

    return read(path)


def _decode(args) -> int:
    from .recognizer import SpeechRecognizer

    recognizer = SpeechRecognizer.load(
        args.checkpoint, beam=args.beam, word_penalty=args.word_penalty
    )
    for path in args.wavs:
        audio, rate = read_wav(path)
        r = recognizer.recognize([audio], rate, nbest=args.nbest)[0]
        print(f"{path}\t{r.text}\tconfidence {r.confidence:.4f}")
        for w, s, e in zip(r.words, r.starts, r.ends, strict=True):
            print(f"  {s:7.2f} {e:7.2f}  {w}")
        for text, posterior in r.nbest:
            print(f"  n-best {posterior:.4f}  {text}")
    return 0


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int)
    p.add_argument("--speakers", type=int, help="use only the first n speakers of each split")
    p.add_argument("--cache-dir", dest="cache_dir", help="where synthesised corpora are cached")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--train-utterances", type=int, dest="train_utterances")
    p.add_argument("--test-utterances", type=int, dest="test_utterances")
    p.add_argument("--conditions", help="comma-separated test conditions (clean,20dB,10dB)")
    p.add_argument(
        "--festival",
        type=int,
        help="also evaluate on this many utterances per festival voice (held-out synthesiser)",
    )


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``speech`` on an argparse subparsers object."""
    p = sub.add_parser(
        "speech",
        help="connected spoken-digit recognition (MMI vs CTC)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = p.add_subparsers(dest="command_name", required=True)
    q = jobs.add_parser("generate", help="synthesise and cache a corpus")
    q.add_argument("--split", choices=("train", "test"), default="train")
    q.add_argument("--utterances", type=int, default=100)
    q.add_argument("--wav-dir", dest="wav_dir", help="also write WAV files and transcripts here")
    _add_data_args(q)
    q.set_defaults(run=_generate, seed=0)
    for name, helptext, out in (
        ("demo", "short end-to-end run with figures", "out/speech_demo"),
        ("train", "train MMI and CTC recognisers and evaluate them", "out/speech"),
    ):
        q = jobs.add_parser(name, help=helptext)
        _add_config_args(q)
        q.add_argument("--out", default=out, help="folder for checkpoints, results, figures")
        q.add_argument("--epochs", type=int)
        q.add_argument("--batch-size", type=int, dest="batch_size")
        q.add_argument("--lr", type=float)
        q.add_argument("--width", type=int, help="channels of the acoustic model")
        q.add_argument("--threads", type=int, help="torch threads (default 2)")
        q.add_argument("--states-per-word", type=int, dest="states_per_word")
        q.add_argument("--telephone", type=float, help="fraction of telephone-band training audio")
        q.add_argument("--losses", help="comma-separated losses (mmi,ctc)")
        q.add_argument(
            "--dither",
            type=float,
            help="white-noise floor added before the STFT (std, full scale 1; default 3e-4); "
            "saved in the checkpoint and used when recognising",
        )
        q.add_argument(
            "--schedule", choices=("constant", "cosine"), help="learning rate by progress (cosine)"
        )
        q.add_argument(
            "--resume", action="store_true", default=None, help="continue interrupted training"
        )
        q.add_argument(
            "--augment",
            help="training augmentation: comma-separated names of "
            "speed,vtlp,tilt,band,reverb,noise,babble,specaugment; all; none "
            "(default speed,vtlp)",
        )
        q.add_argument("--copies", type=int, help="augmented copies of each training utterance")
        q.set_defaults(run=_run)
    q = jobs.add_parser("evaluate", help="WER / SER of saved recognisers on held-out speakers")
    q.add_argument("checkpoints", nargs="+")
    _add_config_args(q)
    q.add_argument("--out", default="out/speech", help="folder for the table and figures")
    q.add_argument(
        "--word-penalty",
        type=float,
        dest="word_penalty",
        help="energy per decoded word (default: each checkpoint's own, 0 if it has none)",
    )
    q.set_defaults(run=_evaluate)
    q = jobs.add_parser(
        "tune", help="tune the word-insertion penalty on new utterances of training speakers"
    )
    q.add_argument("checkpoints", nargs="+")
    _add_data_args(q)
    q.add_argument("--conditions", help="comma-separated dev conditions (clean,20dB,10dB)")
    q.add_argument("--dev-utterances", type=int, default=300, dest="dev_utterances")
    q.add_argument("--penalties", default="0,1,2,3,5,8,12", help="comma-separated grid")
    q.add_argument("--threads", type=int, help="torch threads (default 2)")
    q.add_argument(
        "--out", default="out/speech", help="folder for <name>_tuned.pt and tuning_<name>.md"
    )
    q.set_defaults(run=_tune)
    q = jobs.add_parser("decode", help="recognise WAV files")
    q.add_argument("wavs", nargs="+", help="WAV files (1 to 768 kHz; all channels are averaged)")
    q.add_argument("--checkpoint", required=True)
    q.add_argument("--beam", type=float, default=16.0)
    q.add_argument("--nbest", type=int, default=0, help="also print the n best word strings")
    q.add_argument(
        "--word-penalty",
        type=float,
        dest="word_penalty",
        help="energy per decoded word (default: the checkpoint's)",
    )
    q.set_defaults(run=_decode)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.speech``: bad input is one line on stderr and exit status 2."""
    from .._common.guard import ArgumentParser, add_debug_flag, run_guarded

    parser = ArgumentParser(prog="python -m apps.speech")
    add_debug_flag(parser)
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_guarded(parser, ["speech", *(sys.argv[1:] if argv is None else argv)])
