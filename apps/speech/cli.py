"""``ebgtn speech generate|train|evaluate|decode|demo`` (also ``python -m apps.speech``).

generate  synthesise (and cache) a corpus; optionally write it as a Kaldi data directory
train     train MMI and CTC recognisers, evaluate on held-out speakers, write figures
demo      the same on a small corpus and a short schedule (well under 15 minutes on 2 cores)
evaluate  WER / SER of saved recognisers on held-out speakers at each noise condition;
          or score a hypothesis text file against a reference one (--ref, --hyp)
tune      pick the word-insertion penalty on a dev set of training speakers; save it
decode    recognise WAV files, folders of them, wav.scp files or data directories: words,
          confidence and word timings; a Kaldi text file and a CTM with --out

Real recordings come in as Kaldi data directories (wav.scp, text, optional utt2spk, spk2utt,
segments; see apps.speech.kaldi): train --data DIR [--test-data DIR], tune --data DIR,
evaluate --data DIR, decode DIR. Commands in wav.scp run only with --allow-wav-commands.
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
    if getattr(args, "data", None) and args.command_name in ("train", "demo"):
        changes["train_data"] = args.data
    if getattr(args, "test_data", None):
        changes["test_data"] = args.test_data
    if getattr(args, "allow_wav_commands", False):
        changes["allow_wav_commands"] = True
    return replace(base, **changes)


def _run(args) -> int:
    from .experiment import run

    run(_config(args), Path(args.out), progress=not args.quiet)
    return 0


def _generate(args) -> int:
    from . import corpus

    settings = corpus.CorpusSettings(speakers=args.speakers)
    c = corpus.load_or_generate(
        args.split, args.utterances, args.seed, settings, args.cache_dir, 2, not args.quiet
    )
    print(
        f"{args.split}: {len(c)} utterances, {c.seconds() / 60:.1f} min of audio, "
        f"{len(c.speakers)} speakers"
    )
    if args.data_dir:
        folder = corpus.write_data_dir(c, args.data_dir)
        print(f"wrote a Kaldi data directory of {len(c)} utterances to {folder} (wav/, wav.scp, "
              "text, utt2spk, spk2utt)")  # fmt: skip
    return 0


def _test_corpus(args, config):
    """The test corpus of ``evaluate``: the data directory of ``--data``, or synthesised."""
    from . import corpus
    from .experiment import load_corpora

    if args.data:
        return corpus.from_data_dir(args.data, args.allow_wav_commands)
    return load_corpora(replace(config, train_utterances=1), progress=not args.quiet)[1]


def _evaluate(args) -> int:
    from gtn.utils import atomic_write

    from . import evaluate, figures
    from .corpus import WORDS
    from .experiment import (
        evaluate_festival,
        evaluate_recognizer,
        festival_sets,
        format_targets,
    )
    from .recognizer import SpeechRecognizer
    from .train import prepare

    if args.ref or args.hyp:
        return _score(args)
    if not args.checkpoints:
        raise ValueError("give recogniser checkpoints to evaluate, or --ref and --hyp to score")
    if args.utt2spk:
        raise ValueError("--utt2spk goes with --ref and --hyp")
    config = _config(args)
    test = _test_corpus(args, config)
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

    out = Path(args.out or "out/speech")
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
    source = f" from {args.data}" if args.data else ""
    speakers = "speakers" if args.data else "held-out speakers"
    head = f"{len(test)} test utterances{source}, {len(test.speakers)} {speakers}"
    text = "\n\n".join([head, table, *timing]) + "\n"
    print(text, end="")
    with atomic_write(out / "evaluation.md") as f:
        f.write(text)
    print(f"wrote {out / 'evaluation.md'} and alignment figures")
    return 0


def _score(args) -> int:
    from gtn.utils import atomic_write

    from . import evaluate, kaldi

    if args.checkpoints or not (args.ref and args.hyp):
        raise ValueError("scoring takes --ref TEXT and --hyp TEXT, and no checkpoints")
    refs = kaldi.read_text(args.ref)
    hyps, lines = kaldi.read_text(args.hyp, with_lines=True)
    utt2spk = kaldi.read_utt2spk(args.utt2spk) if args.utt2spk else None
    text = evaluate.format_scoring(evaluate.score_texts(refs, hyps, utt2spk, lines)) + "\n"
    print(text, end="")
    if args.out:
        with atomic_write(Path(args.out)) as f:
            f.write(text)
        print(f"wrote {args.out}")
    return 0


def _tune(args) -> int:
    import shutil

    import torch

    from gtn.utils import atomic_write

    from . import tune
    from .corpus import CorpusSettings
    from .recognizer import SpeechRecognizer

    config = _config(args)
    torch.set_num_threads(config.threads)
    grid = [float(x) for x in args.penalties.split(",")]
    if args.data:
        from .corpus import from_data_dir

        dev = from_data_dir(args.data, args.allow_wav_commands)
    else:
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
        source = (
            f"from {args.data}"
            if args.data
            else f"(new, seed {config.seed + tune.DEV_SEED_OFFSET})"
        )
        head = (
            f"{name}: word penalty on {len(dev)} dev utterances {source} of "
            f"{len(dev.speakers)} {'' if args.data else 'training '}speakers; best {best:g} "
            "(lowest mean WER)"
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


def _decode(args) -> int:
    from . import kaldi
    from .features import SAMPLE_RATE
    from .recognizer import SpeechRecognizer

    recognizer = SpeechRecognizer.load(
        args.checkpoint, beam=args.beam, word_penalty=args.word_penalty
    )
    # every input is checked (headers, tables) before anything is decoded
    items = kaldi.utterances_of(args.inputs, args.allow_wav_commands, args.command_timeout)
    hyps, ctm = {}, []
    for utt, label, data in items:  # one utterance in memory at a time
        r = recognizer.recognize([data.audio(utt)], SAMPLE_RATE, num_hypotheses=args.nbest)[0]
        hyps[utt] = r.words
        # the confidence column is the posterior of the utterance's whole best word string
        ctm += [
            (utt, s, e - s, w, r.confidence)
            for w, s, e in zip(r.words, r.starts, r.ends, strict=True)
        ]
        if args.quiet:
            continue
        print(f"{label}\t{r.text}\tconfidence {r.confidence:.4f}")
        for w, s, e in zip(r.words, r.starts, r.ends, strict=True):
            print(f"  {s:7.2f} {e:7.2f}  {w}")
        for text, posterior in r.hypotheses:
            print(f"  n-best {posterior:.4f}  {text}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        kaldi.write_table(out / "text", hyps)
        kaldi.write_ctm(out / "ctm", ctm)
        print(f"wrote {out / 'text'} and {out / 'ctm'} ({len(hyps)} utterances)")
    return 0


def _add_wav_command_args(p: argparse.ArgumentParser, timeout: bool = False) -> None:
    from .kaldi import ALLOW_COMMANDS_FLAG
    from .wav_commands import COMMAND_TIMEOUT

    p.add_argument(
        ALLOW_COMMANDS_FLAG,
        dest="allow_wav_commands",
        action="store_true",
        help="run the commands of wav.scp lines ending in '|' (they are code from a file; "
        "without this flag such a line is refused)",
    )
    if timeout:
        p.add_argument(
            "--command-timeout",
            dest="command_timeout",
            type=float,
            default=COMMAND_TIMEOUT,
            help="seconds a wav.scp command may run (default %(default)g)",
        )


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
    q.add_argument(
        "--data-dir",
        "--wav-dir",
        dest="data_dir",
        help="also write the corpus here as a Kaldi data directory "
        "(wav/, wav.scp, text, utt2spk, spk2utt)",
    )
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
        q.add_argument("--data", help="train on this Kaldi data directory instead of espeak-ng")
        q.add_argument(
            "--test-data", dest="test_data", help="test on this Kaldi data directory instead"
        )
        _add_wav_command_args(q)
        q.add_argument(
            "--augment",
            help="training augmentation: comma-separated names of "
            "speed,vtlp,tilt,band,reverb,noise,babble,specaugment,silence; all; none "
            "(default speed,vtlp)",
        )
        q.add_argument("--copies", type=int, help="augmented copies of each training utterance")
        q.set_defaults(run=_run)
    q = jobs.add_parser(
        "evaluate",
        help="WER / SER of saved recognisers on held-out speakers, or of a hypothesis file",
    )
    q.add_argument("checkpoints", nargs="*")
    _add_config_args(q)
    q.add_argument(
        "--out",
        help="folder for the table and figures (default out/speech); with --hyp: a file for "
        "the scores",
    )
    q.add_argument("--data", help="evaluate on this Kaldi data directory instead of espeak-ng")
    _add_wav_command_args(q)
    q.add_argument("--ref", help="reference transcripts (Kaldi text file) to score --hyp against")
    q.add_argument("--hyp", help="hypotheses (Kaldi text file, as decode --out writes)")
    q.add_argument("--utt2spk", help="utterance -> speaker, for the per-speaker breakdown")
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
    q.add_argument("--data", help="tune on this Kaldi data directory instead of espeak-ng")
    _add_wav_command_args(q)
    q.set_defaults(run=_tune)
    q = jobs.add_parser(
        "decode", help="recognise WAV files, folders of them, wav.scp files or data directories"
    )
    q.add_argument(
        "inputs",
        nargs="+",
        help="WAV files (1 to 768 kHz; all channels are averaged), folders of .wav files, "
        "wav.scp files (*.scp) or Kaldi data directories",
    )
    q.add_argument(
        "--out",
        help="write the words as a Kaldi text file (OUT/text) and a CTM (OUT/ctm: "
        "'<utterance> 1 <start> <duration> <word> <confidence>', seconds from the utterance's "
        "start; the confidence is the posterior of the utterance's best word string)",
    )
    q.add_argument("--quiet", action="store_true", help="print nothing per utterance")
    _add_wav_command_args(q, timeout=True)
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
