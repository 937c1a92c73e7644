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

An *ensemble* (:meth:`SpeechRecognizer.combine`: acoustic models trained apart, e.g. with other
seeds) is combined per utterance on word strings, not frames: models trained apart with MMI use
their HMM states differently (one spends a word's frames in its second state where another
spends them in its first), so their frame energies do not average. Each member decodes its own
n-best list; the answer is the member's best string with the highest posterior averaged over
the members (0 where a member did not list it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

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
                "members": Int(1, 16),
            },
            defaults={"members": 1},  # files written before ensembles hold one model
        ),
        "topology": Record({"kind": Choice("hmm", "ctc"), "states_per_word": Int(1, 64)}),
        "word_penalty": Real(0.0, 1e6),
        "dither": Real(0.0, 1.0),
        "features": Choice(features.VERSION),
    }
)
RETRAIN = "train a new one with `ebgtn speech train`"
ENSEMBLE_HYPOTHESES = 10  # each member's n-best list, from which the ensemble chooses


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
    """An acoustic model (or an ensemble of them: a list, see :meth:`combine`) with its
    topology, plus decoding settings (``beam``, and ``word_penalty``: energy added per decoded
    word, >= 0, saved with the model) and the feature ``dither`` it was trained with (see
    :func:`.features.add_dither`; saved, and applied by :meth:`recognize` — features passed to
    :meth:`recognize_features` must have been computed with it). ``model`` is the first (or
    only) acoustic model, ``models`` all of them."""

    def __init__(
        self,
        model: TDNN | Sequence[TDNN],
        topology: Topology,
        beam: float = 16.0,
        word_penalty: float = 0.0,
        dither: float = 0.0,
    ):
        self.models = [model] if isinstance(model, TDNN) else list(model)
        if not self.models:
            raise ValueError("no acoustic model")
        for i, m in enumerate(self.models):
            if m.num_columns != topology.num_columns:
                raise ValueError(
                    f"model {i} has {m.num_columns} outputs, topology needs {topology.num_columns}"
                )
            if m.config() != self.models[0].config():
                raise ValueError(f"model {i} has config {m.config()}, model 0 "
                                 f"{self.models[0].config()}")  # fmt: skip
        self.model, self.topology, self.beam = self.models[0], topology, beam
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
            "model": self.model.config() | {"members": len(self.models)},
            "topology": asdict(self.topology),
            "word_penalty": float(self.word_penalty),
            "dither": float(self.dither),
            "features": features.VERSION,
        }
        weights = self.model if len(self.models) == 1 else nn.ModuleList(self.models)
        save_model(path, FORMAT, SCHEMA, config, {"model": weights.state_dict()})

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
        shape = dict(config["model"])
        n = shape.pop("members")

        def build():
            return TDNN(**shape) if n == 1 else nn.ModuleList(TDNN(**shape) for _ in range(n))

        model = build_module(path, tensors, "model", build)
        model.eval()
        if word_penalty is None:
            word_penalty = config["word_penalty"]
        return cls(model, topology, beam, word_penalty, config["dither"])

    @classmethod
    def combine(
        cls, recognizers: Sequence[SpeechRecognizer], word_penalty: float | None = None
    ) -> SpeechRecognizer:
        """An ensemble of ``recognizers``' acoustic models (trained apart, e.g. with other
        seeds; an ensemble given contributes its members), read as described in the module's
        docstring. They must share topology, network shape and dither; ``word_penalty``
        None: the mean of theirs; the beam is the first's.

        Raises:
            ValueError: naming the first recogniser that differs from the first one, or
                fewer than two acoustic models in all.
        """
        models = [m for r in recognizers for m in r.models]
        if len(models) < 2:
            raise ValueError(f"an ensemble needs at least two acoustic models, got {len(models)}")
        first = recognizers[0]
        for i, r in enumerate(recognizers[1:], 1):
            for what in ("topology", "dither"):
                if getattr(r, what) != getattr(first, what):
                    raise ValueError(
                        f"recogniser {i} has {what} {getattr(r, what)}, recogniser 0 "
                        f"{getattr(first, what)}"
                    )
        if word_penalty is None:
            word_penalty = float(np.mean([r.word_penalty for r in recognizers]))
        return cls(models, first.topology, first.beam, word_penalty, first.dither)

    # ------------------------------------------------------------------ recognition
    def energies(
        self, feats: Sequence[torch.Tensor], batch_size: int | None = None
    ) -> list[torch.Tensor]:
        """Per-frame energies [T'_i, V] (float64, lower is better) of log-mel features,
        ``batch_size`` utterances at a time (None: all at once); an ensemble's are
        [M, T'_i, V], one per member (:meth:`decode_energies` combines them)."""
        feats, out = check_features(feats, self.model.n_mels), []
        step = batch_size or max(len(feats), 1)
        for k in range(0, len(feats), step):
            batch = pad(feats[k : k + step])
            with torch.no_grad():
                runs = [m.eval()(*batch) for m in self.models]
            e = torch.stack([e for e, _ in runs], 1).double()  # [B, M, T', V]
            frames = runs[0][1]
            single = len(self.models) == 1
            out += [e[i, 0 if single else slice(None), : int(frames[i])] for i in range(len(e))]
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
        if len(self.models) == 1:
            return [self._decode(e, graph, num_hypotheses, lattice) for e in energies]
        if lattice:
            raise ValueError("an ensemble has no single lattice: ask its members for theirs")
        n = max(num_hypotheses, ENSEMBLE_HYPOTHESES)
        return [
            _combined([self._decode(m, graph, n, False) for m in e], num_hypotheses)
            for e in energies
        ]

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
        """Recognise each waveform (1-D: floats in [-1, 1], or uint8, int8, int16 or int32 PCM
        scaled by its full range; see :func:`check_waveform`) at ``sample_rate`` Hz
        (one rate for all, or one per utterance; resampled to 16 kHz). ``num_hypotheses``: also
        list the n most probable word strings (``Recognition.hypotheses``); ``lattice``: keep
        each pruned word lattice; ``word_penalty``: override the recogniser's energy per decoded
        word (None: keep it); ``warp``: read the audio through the filterbank warped by this
        factor (1: as trained; < 1 moves formants down; see :mod:`.vtln`, and
        :meth:`recognize_vtln` to choose it per speaker).

        Raises:
            ValueError: naming the utterance index, for empty audio, a waveform that is not
                1-D, NaN or infinite samples, floats beyond :data:`MAX_AMPLITUDE`, integers
                of no PCM type (int64, uint16...), or a missing sample rate or one outside
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


def _combined(members: list[Recognition], num_hypotheses: int) -> Recognition:
    """The ensemble's recognition from its members' (each with its n-best list): the members'
    best string with the highest mean posterior, its times from the first member that read it
    best; ``energy`` the members' mean (what VTLN and tempo compare across warps and rates)."""
    posterior: dict[str, float] = {}
    for r in members:
        for text, p in r.hypotheses:
            posterior[text] = posterior.get(text, 0.0) + p / len(members)
    found = [r for r in members if r.energy < math.inf]
    if not found:
        return members[0]
    best = max(found, key=lambda r: posterior.get(r.text, 0.0))
    ranked = sorted(posterior.items(), key=lambda kv: -kv[1])[:num_hypotheses]
    energy = float(np.mean([r.energy for r in found]))
    return Recognition(best.words, posterior.get(best.text, 0.0), best.starts, best.ends,
                       energy, ranked)  # fmt: skip


# Integer samples are PCM, scaled by their container's full range as in a WAV file (8-bit is
# unsigned, centred on 128); (offset, full scale) per dtype. Other integer types (int64,
# uint16...) are no PCM format: their scale would be a guess, so they are refused.
_PCM = {
    np.dtype(np.uint8): (128.0, 128.0),
    np.dtype(np.int8): (0.0, 128.0),
    np.dtype(np.int16): (0.0, 32768.0),
    np.dtype(np.int32): (0.0, 2.0**31),
}
# Float samples are full scale 1. A float recording exceeds it by a few dB at most (a mix not
# yet limited, resampling ringing); 1000 times (60 dB over full scale) is no recording but a
# mistake, most often integer PCM stored as floats, and far beyond it the features overflow
# (float32 power spectra at ~1e16, float64 at ~1e154). Refused with that hint.
MAX_AMPLITUDE = 1e3


def check_waveform(waveform, index: int) -> np.ndarray:
    """float64 [N] from one utterance's waveform: float samples in full scale 1 (at most
    :data:`MAX_AMPLITUDE` in magnitude), or uint8, int8, int16 or int32 PCM scaled by its full
    range; ValueError naming the utterance otherwise."""
    x = np.asarray(waveform.detach().cpu() if torch.is_tensor(waveform) else waveform)
    if x.ndim != 1:
        raise ValueError(f"utterance {index}: expected a 1-D waveform, got shape {list(x.shape)}")
    if x.size == 0:
        raise ValueError(f"utterance {index}: the waveform is empty")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"utterance {index}: samples must be numbers, got dtype {x.dtype}")
    if x.dtype.kind in "iu":
        if x.dtype not in _PCM:
            raise ValueError(
                f"utterance {index}: {x.dtype} samples are no PCM format; give uint8, int8, "
                "int16 or int32 PCM, or floats in [-1, 1]"
            )
        offset, scale = _PCM[x.dtype]
        return (x.astype(np.float64) - offset) / scale
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(f"utterance {index}: sample {bad} is {x[bad]} (NaN or infinite)")
    bad = int(np.argmax(np.abs(x)))
    if abs(x[bad]) > MAX_AMPLITUDE:
        raise ValueError(
            f"utterance {index}: sample {bad} is {x[bad]:.4g}; float samples are full scale 1 "
            f"(at most {MAX_AMPLITUDE:g}): divide 16-bit PCM stored as floats by 32768"
        )
    return x


def check_features(feats: Sequence[torch.Tensor], n_mels: int) -> list[torch.Tensor]:
    """float32 [T_i, n_mels] of each utterance's log-mel features (T_i >= 1, finite values);
    ValueError naming the utterance otherwise (before any convolution runs)."""
    if torch.is_tensor(feats) or isinstance(feats, np.ndarray):
        raise ValueError(f"features must be a list of [T, {n_mels}] tensors, one per utterance")
    out = []
    for i, f in enumerate(feats):
        f = torch.as_tensor(f)
        if f.dim() != 2 or f.shape[1] != n_mels:
            raise ValueError(f"utterance {i}: features must be [T, {n_mels}], got {list(f.shape)}")
        if f.shape[0] == 0:
            raise ValueError(f"utterance {i}: the features hold no frames (T = 0)")
        if not f.is_floating_point():
            raise ValueError(
                f"utterance {i}: features must be floating point (log-mel energies), got {f.dtype}"
            )
        finite = torch.isfinite(f).all(dim=1)
        if not finite.all():
            frame = int(torch.nonzero(~finite)[0])
            raise ValueError(f"utterance {i}: frame {frame} of the features is NaN or infinite")
        out.append(f.float())
    return out


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
