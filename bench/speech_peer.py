"""The peer row: what a user would pick instead of our recogniser, on the same audio.

    .venv/bin/python bench/speech_peer.py out/speech/mmi.pt out/speech/ctc.pt --festival 100

pocketsphinx (``pip install 'ebgtn[bench]'``) with its bundled en-us acoustic model (trained
on real speech) and a JSGF digit-loop grammar over the corpus's eleven words decodes the
held-out espeak-ng speakers' test utterances and the festival voices' utterances, each clean
and at 10 dB, the exact waveforms whose features our evaluation uses
(:func:`apps.speech.data.condition_waveform`); both are scored by the same WER / SER. The
pocketsphinx WER per festival voice is also a listen-free measure of how intelligible each
voice is. Prints one markdown table: our checkpoints' rows, then pocketsphinx's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.speech import corpus, evaluate, experiment, festival  # noqa: E402
from apps.speech.api import SpeechRecognizer  # noqa: E402
from apps.speech.corpus import WORDS  # noqa: E402
from apps.speech.data import condition_waveform, prepare  # noqa: E402

GRAMMAR = "#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( " + " | ".join(WORDS) + " )+ ;\n"


def pocketsphinx_decoder(folder: str):
    """A pocketsphinx decoder with the bundled en-us model and the digit-loop grammar."""
    try:
        from pocketsphinx import Decoder, get_model_path
    except ImportError:
        sys.exit("the peer row needs pocketsphinx: pip install 'ebgtn[bench]'")
    gram = Path(folder) / "digits.gram"
    gram.write_text(GRAMMAR)
    model = Path(get_model_path()) / "en-us"
    return Decoder(
        hmm=str(model / "en-us"),
        dict=str(model / "cmudict-en-us.dict"),
        jsgf=str(gram),
        loglevel="FATAL",
    )


def sphinx_words(decoder, waveform: np.ndarray) -> list[str]:
    """Words pocketsphinx hears in a float waveform (full scale 1) at 16 kHz."""
    pcm = np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.int16)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr.split() if hyp is not None else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="*", help="our recognisers (.pt) to score alongside")
    p.add_argument("--test-utterances", type=int, default=600, help="held-out espeak utterances")
    p.add_argument("--festival", type=int, default=100, help="utterances per festival voice")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    if args.test_utterances < 1 or args.festival < 0:
        p.error("--test-utterances must be >= 1 and --festival >= 0")

    # the same corpora, noise seeds and conditions as `ebgtn speech evaluate --festival N`
    config = experiment.Config(
        train_utterances=1, test_utterances=args.test_utterances, seed=args.seed,
        cache_dir=args.cache_dir, festival=args.festival,
    )  # fmt: skip
    _, test = experiment.load_corpora(config, progress=False)
    sets = {f"espeak {c}": (test, c, args.seed + 1000) for c in experiment.FESTIVAL_CONDITIONS}
    if args.festival and festival.available():
        voices = festival.load_or_generate(args.festival, args.seed, cache_dir=args.cache_dir)
        for v, data in voices.items():
            for c in experiment.FESTIVAL_CONDITIONS:
                sets[f"{v} {c}"] = (data, c, args.seed + experiment.FESTIVAL_NOISE_OFFSET)
    elif args.festival:
        print(festival.MISSING)

    def refs(data: corpus.Corpus) -> list[list[str]]:
        return [[WORDS[w] for w in u.words] for u in data.utterances]

    rows: dict[str, dict[str, evaluate.Score]] = {}
    for path in args.checkpoints:
        rec = SpeechRecognizer.load(path)
        rows[Path(path).stem] = {
            name: evaluate.score(
                refs(data),
                [
                    r.words
                    for r in rec.recognize_features(
                        prepare(data, (c,), seed, dither=rec.dither).features
                    )
                ],
            )  # fmt: skip
            for name, (data, c, seed) in sets.items()
        }
    with tempfile.TemporaryDirectory() as tmp:
        decoder = pocketsphinx_decoder(tmp)
        rows["pocketsphinx en-us + digit JSGF"] = {
            name: evaluate.score(
                refs(data),
                [
                    sphinx_words(decoder, condition_waveform(u.audio, c, seed, i))
                    for i, u in enumerate(data.utterances)
                ],
            )  # fmt: skip
            for name, (data, c, seed) in sets.items()
        }
    for cells in rows.values():
        for c in experiment.FESTIVAL_CONDITIONS:
            voice_cells = [s for n, s in cells.items() if n.endswith(f" {c}") and
                           not n.startswith("espeak")]  # fmt: skip
            if voice_cells:
                cells[f"festival {c}"] = experiment.pool(voice_cells)
    print(f"{len(test)} held-out espeak utterances; {args.festival} per festival voice")
    print(evaluate.format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
