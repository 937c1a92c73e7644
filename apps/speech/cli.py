"""``ebgtn speech generate|train|demo|evaluate|tune|combine|decode``
(also ``python -m apps.speech``).

generate  synthesise (and cache) a corpus; optionally write it as a Kaldi data directory
train     train MMI and CTC recognisers, evaluate on held-out speakers, write figures
demo      the same on a small corpus and a short schedule (well under 15 minutes on 2 cores)
evaluate  WER / SER of saved recognisers on held-out speakers at each noise condition;
          or score a hypothesis text file against a reference one (--ref, --hyp)
tune      pick the word-insertion penalty on a dev set of training speakers; save it
combine   one recogniser from several trained apart (other seeds): an ensemble
decode    recognise WAV files, folders of them, wav.scp files or data directories: words,
          confidence and word timings; a Kaldi text file and a CTM with --out

Real recordings come in as Kaldi data directories (wav.scp, text, optional utt2spk, spk2utt,
segments; see apps.speech.kaldi): train --data DIR [--test-data DIR], tune --data DIR,
evaluate --data DIR, decode DIR. Commands in wav.scp run only with --allow-wav-commands.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

from .._common.cli import add_app_parser, add_options, add_run_parsers, config_from_args
from .kaldi import ALLOW_COMMANDS_FLAG
from .wav_commands import COMMAND_TIMEOUT


def _base(command: str):
    """The configuration the options of ``command`` change (``demo`` has a short schedule)."""
    from .experiment import DEMO, Config

    return DEMO if command == "demo" else Config()


def _config(args):
    base = _base(args.command_name)
    config = config_from_args(args, base, lists=("losses", "conditions", "flite_voices"))
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
        progress=not args.quiet, flite_voice=args.flite_voice,
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


def _combine(args) -> int:
    from .api import SpeechRecognizer

    members = [SpeechRecognizer.load(p) for p in args.checkpoints]
    ensemble = SpeechRecognizer.combine(members, args.word_penalty)
    ensemble.save(args.out)
    print(f"wrote {args.out}: an ensemble of {len(ensemble.models)} acoustic models, "
          f"word penalty {ensemble.word_penalty:g}")  # fmt: skip
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


# (flag, type, help[, more add_argument keywords]); an option named like a Config field sets it
# (see _config; --data is train_data for train and demo).
_DATA = (
    ("--seed", int, None),
    ("--speakers", int, "use only the first n speakers of each split"),
    ("--cache-dir", str, "where synthesised corpora are cached"),
    ("--quiet", bool, "no progress bars"),
)
_CORPORA = (
    ("--train-utterances", int, None),
    ("--test-utterances", int, None),
    ("--conditions", str, "comma-separated test conditions (clean,20dB,10dB)"),
    (
        "--festival",
        int,
        "also evaluate on this many utterances per festival voice (held-out synthesiser)",
    ),
)
_TRAINING = (
    ("--epochs", int, None),
    ("--batch-size", int, None),
    ("--lr", float, None),
    ("--width", int, "channels of the acoustic model"),
    ("--threads", int, "torch threads (default 2)"),
    ("--states-per-word", int, None),
    ("--telephone", float, "fraction of telephone-band training audio"),
    ("--losses", str, "comma-separated losses, of mmi, ctc"),
    (
        "--dither",
        float,
        "white-noise floor added before the STFT (std, full scale 1; default 3e-4); saved in "
        "the checkpoint and used when recognising",
    ),
    ("--schedule", str, "learning rate by progress", {"choices": ("constant", "cosine")}),
    ("--resume", bool, "continue interrupted training"),
    ("--data", str, "train on this Kaldi data directory instead of espeak-ng"),
    ("--test-data", str, "test on this Kaldi data directory instead"),
    (
        "--flite",
        int,
        "add this many utterances per flite voice (awb, rms) to training (needs flite)",
    ),
    ("--flite-voices", str, "comma-separated flite voices --flite adds (default awb,rms)"),
)
_AUGMENTATION = (
    (
        "--augment",
        str,
        "training augmentation: comma-separated names of speed,vtlp,tilt,band,reverb,noise,"
        "babble,specaugment,silence; all; none (default speed,vtlp)",
    ),
    ("--copies", int, "augmented copies of each training utterance"),
)
_WORD_PENALTY = (
    (
        "--word-penalty",
        float,
        "energy per decoded word (default: each checkpoint's own, 0 if it has none)",
    ),
)
_NORMALISATION = (
    (
        "--vtln",
        None,
        "vocal-tract-length normalisation: choose the filterbank warp under which the best "
        "paths have the least energy per frame, for each speaker (a data directory's utt2spk; "
        "a WAV file or wav.scp line is its own speaker; the default) or each utterance, and "
        "decode with it",
        {"nargs": "?", "const": "speaker", "choices": ("speaker", "utterance")},
    ),
    (
        "--warps",
        str,
        "the VTLN warp grid: comma-separated factors or start:stop:step (default 0.8:1.2:0.04)",
    ),
    (
        "--tempo",
        None,
        "tempo normalisation: play the features faster or slower (0.8 to 1.25 times) at the "
        "rate under which the best paths have the least energy per frame, chosen per speaker "
        "(the default) or per utterance, after --vtln's warp when both are given; adds a row",
        {"nargs": "?", "const": "speaker", "choices": ("speaker", "utterance")},
    ),
)


_WAV_COMMANDS = (
    (
        ALLOW_COMMANDS_FLAG,
        bool,
        "run the commands of wav.scp lines ending in '|' (they are code from a file; without "
        "this flag such a line is refused)",
        {"default": False},
    ),
)
_COMMAND_TIMEOUT = (
    (
        "--command-timeout",
        float,
        "seconds a wav.scp command may run (default %(default)g)",
        {"default": COMMAND_TIMEOUT},
    ),
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
    q.add_argument(
        "--flite-voice",
        help="synthesise this flite voice (e.g. rms) instead of espeak-ng's speakers (needs flite)",
    )
    add_options(q, _DATA)
    q.set_defaults(run=_generate, seed=0)
    runs = (
        ("demo", "short end-to-end run with figures", "out/speech_demo"),
        ("train", "train MMI and CTC recognisers and evaluate them", "out/speech"),
    )
    for q in add_run_parsers(jobs, runs, _run, _base):
        add_options(q, _DATA + _CORPORA + _TRAINING + _WAV_COMMANDS + _AUGMENTATION)
    q = jobs.add_parser(
        "evaluate",
        help="WER / SER of saved recognisers on held-out speakers, or of a hypothesis file",
    )
    q.add_argument("checkpoints", nargs="*")
    add_options(q, _DATA + _CORPORA)
    q.add_argument(
        "--out",
        help="folder for the table and figures (default out/speech); with --hyp: a file for "
        "the scores",
    )
    q.add_argument("--data", help="evaluate on this Kaldi data directory instead of espeak-ng")
    add_options(q, _WAV_COMMANDS)
    q.add_argument("--ref", help="reference transcripts (Kaldi text file) to score --hyp against")
    q.add_argument("--hyp", help="hypotheses (Kaldi text file, as decode --out writes)")
    q.add_argument("--utt2spk", help="utterance -> speaker, for the per-speaker breakdown")
    add_options(q, _WORD_PENALTY + _NORMALISATION)
    q.set_defaults(run=_evaluate)
    q.help_defaults = partial(_base, "evaluate")
    q = jobs.add_parser(
        "tune", help="tune the word-insertion penalty on new utterances of training speakers"
    )
    q.add_argument("checkpoints", nargs="+")
    add_options(q, _DATA)
    q.add_argument("--conditions", help="comma-separated dev conditions (clean,20dB,10dB)")
    q.add_argument("--dev-utterances", type=int, default=300)
    q.add_argument("--penalties", default="0,1,2,3,5,8,12", help="comma-separated grid")
    q.add_argument("--threads", type=int, help="torch threads (default 2)")
    q.add_argument(
        "--out", default="out/speech", help="folder for <name>_tuned.pt and tuning_<name>.md"
    )
    q.add_argument("--data", help="tune on this Kaldi data directory instead of espeak-ng")
    add_options(q, _WAV_COMMANDS)
    q.set_defaults(run=_tune)
    q.help_defaults = partial(_base, "tune")
    q = jobs.add_parser(
        "combine", help="one recogniser from several trained apart (other seeds): an ensemble"
    )
    q.add_argument("checkpoints", nargs="+", help="recognisers of one topology and shape")
    q.add_argument("--out", required=True, help="the ensemble's checkpoint")
    q.add_argument(
        "--word-penalty",
        type=float,
        help="energy per decoded word (default: the mean of the recognisers' own)",
    )
    q.set_defaults(run=_combine)
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
    add_options(q, _WAV_COMMANDS + _COMMAND_TIMEOUT)
    q.add_argument("--checkpoint", required=True, help="a recogniser (train or tune writes one)")
    q.add_argument(
        "--beam", type=float, default=16.0, help="energy beam of the search (default %(default)g)"
    )
    q.add_argument("--nbest", type=int, default=0, help="also print the n best word strings")
    add_options(q, _WORD_PENALTY + _NORMALISATION)
    q.set_defaults(run=_decode)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.speech``: bad input is one line on stderr and exit status 2."""
    from .._common.cli import run_app

    return run_app(add_parser, "speech", argv)
