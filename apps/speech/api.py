"""The speech recogniser as users see it: waveforms in, words with confidences and timings out.

>>> rec = SpeechRecognizer.load("out/speech/mmi.pt")        # doctest: +SKIP
>>> r = rec.recognize([waveform], sample_rate=22050)[0]      # doctest: +SKIP
>>> r.words, r.confidence, r.starts                          # doctest: +SKIP
(['three', 'seven', 'oh', 'nine'], 0.998, array([0.12, 0.42, 0.76, 0.94]))

Decoding is ``decoders.decode`` (beam search) of the acoustic model's energies with the
topology's decoding graph (lexicon o digit-loop grammar); the confidence is the posterior of
the best word string under the pruned lattice. ``word_penalty`` (stored in the checkpoint,
tuned on training speakers by :mod:`.tune`) is :func:`.graphs.with_word_penalty` of that
graph: it changes decoding only, never training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

import decoders
from gtn.utils import deprecated_attribute, renamed_keywords

from .._common.checkpoint import (
    CheckpointError,
    Choice,
    Int,
    Real,
    Record,
    build_module,
    load_model,
    save_model,
)
from .._common.media import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from . import features, vtln
from .features import pad
from .graphs import Topology, check_penalty, with_word_penalty, word_segments
from .network import TDNN

FORMAT = "ebgtn.speech.recognizer"
# Every setting a file may hold, with ranges far beyond any trained model's, so that a file
# cannot ask for a network larger than the weights it carries (those are checked too).
SCHEMA = Record(
    {
        "model": Record(
            {
                "num_columns": Int(2, 4096),
                "width": Int(1, 4096),
                "stride": Int(1, 16),
                "n_mels": Int(1, 512),
            }
        ),
        "topology": Record({"kind": Choice("hmm", "ctc"), "states_per_word": Int(1, 64)}),
        "word_penalty": Real(0.0, 1e6),
        "dither": Real(0.0, 1.0),
        "features": Choice(features.VERSION),
    }
)
RETRAIN = "train a new one with `ebgtn speech train`"


@dataclass
class Recognition:
    """One utterance's result: ``words``; ``confidence`` in [0, 1]; ``starts``/``ends`` [W]
    seconds; ``energy`` of the best path (lower is better); ``hypotheses`` (text, posterior);
    ``lattice`` the pruned word lattice (``decoders.Lattice``) when asked for; ``warp`` the
    filterbank warp its features were computed with (1: none; see :mod:`.vtln`); ``rate``
    the tempo its features were played at (1: as recorded; see :mod:`.tempo`)."""

    words: list[str]
    confidence: float
    starts: np.ndarray
    ends: np.ndarray
    energy: float
    hypotheses: list[tuple[str, float]] = field(default_factory=list)
    lattice: decoders.Lattice | None = None
    warp: float = 1.0
    rate: float = 1.0

    nbest = deprecated_attribute("hypotheses")  # the old name, for one release

    @property
    def text(self) -> str:
        return " ".join(self.words)


class SpeechRecognizer:
    """An acoustic model with its topology, plus decoding settings (``beam``, and
    ``word_penalty``: energy added per decoded word, >= 0, saved with the model) and the
    feature ``dither`` it was trained with (see :func:`.features.add_dither`; saved, and
    applied by :meth:`recognize` — features passed to :meth:`recognize_features` must have
    been computed with it)."""

    def __init__(
        self,
        model: TDNN,
        topology: Topology,
        beam: float = 16.0,
        word_penalty: float = 0.0,
        dither: float = 0.0,
    ):
        if model.num_columns != topology.num_columns:
            raise ValueError(
                f"model has {model.num_columns} outputs, topology needs {topology.num_columns}"
            )
        self.model, self.topology, self.beam = model, topology, beam
        self.word_penalty = check_penalty(word_penalty)
        self.dither = features.check_nonnegative(dither, "dither")
        self._graphs: dict[float, object] = {}

    def decoding_graph(self, word_penalty: float | None = None):
        """The topology's decoding graph with ``word_penalty`` (default: the recogniser's) on
        every word-output arc; built once per value and cached."""
        p = self.word_penalty if word_penalty is None else check_penalty(word_penalty)
        if p == 0.0:
            return self.topology.decoding_graph
        if p not in self._graphs:
            self._graphs[p] = with_word_penalty(self.topology.decoding_graph, p)
        return self._graphs[p]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the recogniser atomically (weights, settings and a content digest)."""
        config = {
            "model": self.model.config(),
            "topology": asdict(self.topology),
            "word_penalty": float(self.word_penalty),
            "dither": float(self.dither),
            "features": features.VERSION,
        }
        save_model(path, FORMAT, SCHEMA, config, {"model": self.model.state_dict()})

    @classmethod
    def load(
        cls, path: str | os.PathLike, beam: float = 16.0, word_penalty: float | None = None
    ) -> SpeechRecognizer:
        """Read a recogniser written by :meth:`save`; CheckpointError naming the file and the
        problem if it is not one (or is damaged, edited, or holds settings out of range).
        ``word_penalty`` None: the checkpoint's. The feature ``dither`` the model was
        trained with is restored."""
        config, tensors = load_model(
            path, FORMAT, SCHEMA, what="speech recogniser", legacy=("ebgtn-speech",),
            retrain=RETRAIN,
        )  # fmt: skip
        topology = Topology(**config["topology"])
        if config["model"]["num_columns"] != topology.num_columns:
            raise CheckpointError(
                f"{path}: the model has {config['model']['num_columns']} outputs, its "
                f"{topology.kind} topology needs {topology.num_columns}"
            )
        model = build_module(path, tensors, "model", lambda: TDNN(**config["model"]))
        model.eval()
        if word_penalty is None:
            word_penalty = config["word_penalty"]
        return cls(model, topology, beam, word_penalty, config["dither"])

    # ------------------------------------------------------------------ recognition
    def energies(
        self, feats: Sequence[torch.Tensor], batch_size: int | None = None
    ) -> list[torch.Tensor]:
        """Per-frame energies [T'_i, V] (float64, lower is better) of log-mel features,
        ``batch_size`` utterances at a time (None: all at once)."""
        self.model.eval()
        feats, out = list(feats), []
        step = batch_size or max(len(feats), 1)
        for k in range(0, len(feats), step):
            with torch.no_grad():
                e, frames = self.model(*pad(feats[k : k + step]))
            out += [e[i, : int(frames[i])].double() for i in range(len(frames))]
        return out

    @renamed_keywords(nbest="num_hypotheses")
    def recognize_features(
        self,
        feats: Sequence[torch.Tensor],
        num_hypotheses: int = 0,
        lattice: bool = False,
        batch_size: int = 32,
        word_penalty: float | None = None,
    ) -> list[Recognition]:
        """:meth:`recognize` on log-mel features [T_i, 40] (see :mod:`.features`)."""
        return self.decode_energies(
            self.energies(feats, batch_size), num_hypotheses, lattice, word_penalty
        )

    @renamed_keywords(nbest="num_hypotheses")
    def decode_energies(
        self,
        energies: Sequence[torch.Tensor],
        num_hypotheses: int = 0,
        lattice: bool = False,
        word_penalty: float | None = None,
    ) -> list[Recognition]:
        """Decode per-frame energies from :meth:`energies` (lets a caller try several
        ``word_penalty`` values without rerunning the acoustic model)."""
        graph = self.decoding_graph(word_penalty)
        return [self._decode(e, graph, num_hypotheses, lattice) for e in energies]

    def _decode(
        self, energies: torch.Tensor, graph, num_hypotheses: int, lattice: bool
    ) -> Recognition:
        r = decoders.decode(
            energies, graph, beam=self.beam, num_hypotheses=num_hypotheses, lattice=lattice
        )
        if not r.found:
            return Recognition([], 0.0, np.zeros(0), np.zeros(0), math.inf)
        start, end = word_segments(r.alignment, r.output_frames, self.topology)
        step = features.frame_seconds(self.model.stride)
        conf = float(np.clip(r.confidence if r.confidence is not None else 0.0, 0.0, 1.0))
        return Recognition(
            list(r.best.words),
            conf,
            start * step,
            end * step,
            float(r.energy),
            [(h.text, float(h.posterior or 0.0)) for h in r.hypotheses],
            r.lattice,
        )

    @renamed_keywords(nbest="num_hypotheses")
    def recognize(
        self,
        waveforms: Sequence[np.ndarray],
        sample_rate: int | Sequence[int],
        num_hypotheses: int = 0,
        lattice: bool = False,
        word_penalty: float | None = None,
        warp: float = 1.0,
    ) -> list[Recognition]:
        """Recognise each waveform (1-D float array in [-1, 1], or int16) at ``sample_rate`` Hz
        (one rate for all, or one per utterance; resampled to 16 kHz). ``num_hypotheses``: also
        list the n most probable word strings (``Recognition.hypotheses``); ``lattice``: keep
        each pruned word lattice; ``word_penalty``: override the recogniser's energy per decoded
        word (None: keep it); ``warp``: read the audio through the filterbank warped by this
        factor (1: as trained; < 1 moves formants down; see :mod:`.vtln`, and
        :meth:`recognize_vtln` to choose it per speaker).

        Raises:
            ValueError: naming the utterance index, for empty audio, a waveform that is not
                1-D, NaN or infinite samples, or a missing sample rate or one outside
                1 kHz to 768 kHz; or a warp outside [0.5, 2].
        """
        warp = vtln.check_grid([warp])[0]
        audio = self._audio(waveforms, sample_rate)
        feats = [features.log_mel(x, self.dither, warp) for x in audio]
        results = self.recognize_features(
            feats, num_hypotheses=num_hypotheses, lattice=lattice, word_penalty=word_penalty
        )
        for r in results:
            r.warp = warp
        return results

    def recognize_vtln(
        self,
        waveforms: Sequence[np.ndarray],
        sample_rate: int | Sequence[int],
        speakers: Sequence[str] | None = None,
        warps: Sequence[float] = vtln.GRID,
        num_hypotheses: int = 0,
        lattice: bool = False,
        word_penalty: float | None = None,
    ) -> tuple[list[Recognition], vtln.Selection]:
        """:meth:`recognize` with vocal-tract-length normalisation: each speaker's warp is the
        one of ``warps`` under which its utterances' best paths have the least energy per frame
        (no transcript needed; see :mod:`.vtln`), and its utterances are decoded with it.
        ``speakers``: the speaker of each waveform (None: each utterance chooses its own warp).
        Returns the recognitions (``Recognition.warp`` says which) and the selection.

        Raises:
            ValueError: as :meth:`recognize`; a speaker list of the wrong length; a warp that is
                not a number in [0.5, 2].
        """
        audio = self._audio(waveforms, sample_rate)

        def features_at(warp, which):
            return [features.log_mel(audio[i], self.dither, warp) for i in which]

        groups = vtln.group_keys(speakers, len(audio))
        selection, results = vtln.choose(
            self, features_at, groups, warps, word_penalty, num_hypotheses, lattice
        )
        return results, selection

    def _audio(self, waveforms, sample_rate) -> list[np.ndarray]:
        """float64 16 kHz waveforms, checked (see :meth:`recognize`)."""
        if isinstance(waveforms, np.ndarray) or torch.is_tensor(waveforms):
            raise ValueError("waveforms must be a list of 1-D arrays, one per utterance")
        rates = _rates(sample_rate, len(waveforms))
        return [features.as_16k(check_waveform(w, i), rates[i]) for i, w in enumerate(waveforms)]


def check_waveform(waveform, index: int) -> np.ndarray:
    """float64 [N] from one utterance's waveform, or ValueError naming the utterance."""
    x = np.asarray(waveform.detach().cpu() if torch.is_tensor(waveform) else waveform)
    if x.ndim != 1:
        raise ValueError(f"utterance {index}: expected a 1-D waveform, got shape {list(x.shape)}")
    if x.size == 0:
        raise ValueError(f"utterance {index}: the waveform is empty")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"utterance {index}: samples must be numbers, got dtype {x.dtype}")
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    x = x.astype(np.float64) / scale
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(f"utterance {index}: sample {bad} is {x[bad]} (NaN or infinite)")
    return x


def _rates(sample_rate, n: int) -> list[int]:
    many = isinstance(sample_rate, (list, tuple, np.ndarray))
    rates = list(sample_rate) if many else [sample_rate] * n
    if len(rates) != n:
        raise ValueError(f"{len(rates)} sample rates for {n} utterances")
    for i, r in enumerate(rates):
        if r is None:
            raise ValueError(f"utterance {i}: unknown sample rate (None)")
        if isinstance(r, bool) or not isinstance(r, (int, np.integer, float)) or not r > 0:
            raise ValueError(
                f"utterance {i}: sample rate must be a positive number of Hz, got {r!r}"
            )
        if int(r) != r:
            raise ValueError(f"utterance {i}: sample rate must be a whole number of Hz, got {r!r}")
        if not MIN_SAMPLE_RATE <= r <= MAX_SAMPLE_RATE:
            raise ValueError(
                f"utterance {i}: sample rate {r!r} Hz is outside {MIN_SAMPLE_RATE} to "
                f"{MAX_SAMPLE_RATE} Hz"
            )
    return [int(r) for r in rates]
