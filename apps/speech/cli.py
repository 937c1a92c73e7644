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
from dataclasses import replace
from pathlib import Path

from .._common.cli import add_app_parser, add_run_parsers, config_from_args

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
    "test_data",
    "allow_wav_commands",
)


def _config(args):
    from .experiment import DEMO, Config

    base = DEMO if args.command_name == "demo" else Config()
    config = config_from_args(args, base, _CONFIG_NAMES, lists=("losses", "conditions"))
    if getattr(args, "data", None) and args.command_name in ("train", "demo"):
        config = replace(config, train_data=args.data)  # evaluate and tune read --data apart
    return config


def _run(args) -> int:
    from .experiment import run

    run(_config(args), Path(args.out), progress=not args.quiet)
    return 0


def _generate(args) -> int:
    from .commands import generate_corpus

    generate_corpus(
        args.split, args.utterances, args.seed, args.speakers, args.cache_dir, args.data_dir,
        progress=not args.quiet,
    )  # fmt: skip
    return 0


def _evaluate(args) -> int:
    from . import commands

    if args.ref or args.hyp:
        if args.checkpoints or not (args.ref and args.hyp):
            raise ValueError("scoring takes --ref TEXT and --hyp TEXT, and no checkpoints")
        if args.vtln or args.warps:
            raise ValueError("--vtln goes with checkpoints, not with --ref and --hyp")
        if args.tempo:
            raise ValueError("--tempo goes with checkpoints, not with --ref and --hyp")
        commands.score_files(args.ref, args.hyp, args.utt2spk, args.out)
        return 0
    if not args.checkpoints:
        raise ValueError("give recogniser checkpoints to evaluate, or --ref and --hyp to score")
    if args.utt2spk:
        raise ValueError("--utt2spk goes with --ref and --hyp")
    commands.evaluate_checkpoints(
        _config(args), args.checkpoints, Path(args.out or "out/speech"), args.data,
        args.word_penalty, progress=not args.quiet, vtln_grouping=args.vtln,
        warps=_warps(args), tempo_grouping=args.tempo,
    )  # fmt: skip
    return 0


def _tune(args) -> int:
    from .commands import tune_checkpoints

    grid = [float(x) for x in args.penalties.split(",")]
    tune_checkpoints(
        _config(args), args.checkpoints, grid, Path(args.out), args.dev_utterances, args.data,
        progress=not args.quiet,
    )  # fmt: skip
    return 0


def _decode(args) -> int:
    from .commands import decode_inputs

    decode_inputs(
        args.checkpoint, args.inputs, args.out, args.beam, args.word_penalty, args.nbest,
        args.allow_wav_commands, args.command_timeout, quiet=args.quiet,
        vtln_grouping=args.vtln, warps=_warps(args), tempo_grouping=args.tempo,
    )  # fmt: skip
    return 0


def _warps(args) -> tuple[float, ...]:
    from .vtln import GRID, parse_grid

    if args.warps is not None and not args.vtln:
        raise ValueError("--warps goes with --vtln")
    return GRID if args.warps is None else parse_grid(args.warps)


def _add_vtln_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--vtln",
        nargs="?",
        const="speaker",
        choices=("speaker", "utterance"),
        help="vocal-tract-length normalisation: choose the filterbank warp under which the "
        "best paths have the least energy per frame, for each speaker (a data directory's "
        "utt2spk; a WAV file or wav.scp line is its own speaker; the default) or each "
        "utterance, and decode with it",
    )
    p.add_argument(
        "--warps",
        help="the VTLN warp grid: comma-separated factors or start:stop:step "
        "(default 0.8:1.2:0.04)",
    )


def _add_tempo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tempo",
        nargs="?",
        const="speaker",
        choices=("speaker", "utterance"),
        help="tempo normalisation: play the features faster or slower (0.8 to 1.25 times) at "
        "the rate under which the best paths have the least energy per frame, chosen per "
        "speaker (the default) or per utterance, after --vtln's warp when both are given; "
        "adds a row",
    )


def _add_wav_command_args(p: argparse.ArgumentParser, timeout: bool = False) -> None:
    from .kaldi import ALLOW_COMMANDS_FLAG
    from .wav_commands import COMMAND_TIMEOUT

    p.add_argument(
        ALLOW_COMMANDS_FLAG,
        action="store_true",
        help="run the commands of wav.scp lines ending in '|' (they are code from a file; "
        "without this flag such a line is refused)",
    )
    if timeout:
        p.add_argument(
            "--command-timeout",
            type=float,
            default=COMMAND_TIMEOUT,
            help="seconds a wav.scp command may run (default %(default)g)",
        )


def _add_word_penalty_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--word-penalty",
        type=float,
        help="energy per decoded word (default: each checkpoint's own, 0 if it has none)",
    )


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int)
    p.add_argument("--speakers", type=int, help="use only the first n speakers of each split")
    p.add_argument("--cache-dir", help="where synthesised corpora are cached")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--train-utterances", type=int)
    p.add_argument("--test-utterances", type=int)
    p.add_argument("--conditions", help="comma-separated test conditions (clean,20dB,10dB)")
    p.add_argument(
        "--festival",
        type=int,
        help="also evaluate on this many utterances per festival voice (held-out synthesiser)",
    )


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``speech`` on an argparse subparsers object."""
    p, jobs = add_app_parser(
        sub, "speech", "connected spoken-digit recognition (MMI vs CTC)", __doc__
    )
    q = jobs.add_parser("generate", help="synthesise and cache a corpus")
    q.add_argument("--split", choices=("train", "test"), default="train")
    q.add_argument("--utterances", type=int, default=100)
    q.add_argument(
        "--data-dir",
        "--wav-dir",
        help="also write the corpus here as a Kaldi data directory "
        "(wav/, wav.scp, text, utt2spk, spk2utt)",
    )
    _add_data_args(q)
    q.set_defaults(run=_generate, seed=0)
    runs = (
        ("demo", "short end-to-end run with figures", "out/speech_demo"),
        ("train", "train MMI and CTC recognisers and evaluate them", "out/speech"),
    )
    for q in add_run_parsers(jobs, runs, _run):
        _add_config_args(q)
        q.add_argument("--epochs", type=int)
        q.add_argument("--batch-size", type=int)
        q.add_argument("--lr", type=float)
        q.add_argument("--width", type=int, help="channels of the acoustic model")
        q.add_argument("--threads", type=int, help="torch threads (default 2)")
        q.add_argument("--states-per-word", type=int)
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
        q.add_argument("--test-data", help="test on this Kaldi data directory instead")
        _add_wav_command_args(q)
        q.add_argument(
            "--augment",
            help="training augmentation: comma-separated names of "
            "speed,vtlp,tilt,band,reverb,noise,babble,specaugment,silence; all; none "
            "(default speed,vtlp)",
        )
        q.add_argument("--copies", type=int, help="augmented copies of each training utterance")
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
    _add_word_penalty_arg(q)
    _add_vtln_args(q)
    _add_tempo_args(q)
    q.set_defaults(run=_evaluate)
    q = jobs.add_parser(
        "tune", help="tune the word-insertion penalty on new utterances of training speakers"
    )
    q.add_argument("checkpoints", nargs="+")
    _add_data_args(q)
    q.add_argument("--conditions", help="comma-separated dev conditions (clean,20dB,10dB)")
    q.add_argument("--dev-utterances", type=int, default=300)
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
    _add_word_penalty_arg(q)
    _add_vtln_args(q)
    _add_tempo_args(q)
    q.set_defaults(run=_decode)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.speech``: bad input is one line on stderr and exit status 2."""
    from .._common.cli import run_app

    return run_app(add_parser, "speech", argv)
