"""Log-mel filterbank features: 40 bands, 25 ms windows every 10 ms, normalised per utterance.

Waveforms are float arrays in [-1, 1] at 16 kHz (:func:`as_16k` resamples any rate with
``scipy.signal.resample_poly``). Features are [T, 40] float32 with T = 1 + N // 160 (centred
frames); each band has zero mean and unit variance over the utterance's speech frames.

Band energies are floored ``dynamic_range_db`` below the utterance's loudest band (default
:data:`DYNAMIC_RANGE_DB`): digital silence stays finite. A narrower range (e.g. 40 dB) hides
faint detail that a recording's noise floor would hide, such as a diphone synthesiser's
residual in its pauses.

The per-band mean and variance are taken over the frames within :data:`SPEECH_RANGE_DB` of the
utterance's loudest frame, not over all frames: over all frames they would depend on how much
silence surrounds the words, and a recording has far more of it than a synthesiser's output.
"""

from __future__ import annotations

import zlib
from fractions import Fraction
from functools import cache

import numpy as np
import torch
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
N_FFT = 512
WIN = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
DYNAMIC_RANGE_DB = 80.0  # band energies more than this below the utterance's peak are floored
SPEECH_RANGE_DB = 40.0  # frames within this of the loudest frame set the normalisation
# Saved in recognisers: a model only reads the features it was trained on.
VERSION = "log-mel 40, normalised over speech frames"


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    sample_rate: int = SAMPLE_RATE,
    f_min: float = 20.0,
    f_max: float | None = None,
    warp: float = 1.0,
) -> np.ndarray:
    """HTK triangular mel filters [n_fft // 2 + 1, n_mels] (float64, peak 1 per filter).

    Filter m rises linearly from centre m-1 to centre m and falls to centre m+1, the n_mels + 2
    centres equally spaced in mel between f_min and f_max (default: Nyquist). ``warp`` != 1
    moves the FFT bins by :func:`.augment.vtlp_warp` first (vocal-tract-length perturbation:
    the same filters read a warped spectrum).

    >>> fb = mel_filterbank(4, 64, 8000)
    >>> fb.shape, bool((fb >= 0).all())
    ((33, 4), True)
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0.5 <= warp <= 2.0:
        raise ValueError(f"warp must be in [0.5, 2], got {warp}")
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    if warp != 1.0:
        from .augment import vtlp_warp

        freqs = vtlp_warp(freqs, warp, sample_rate / 2)
    centres = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lo, mid, hi = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).T


_WINDOW = torch.hann_window(WIN, periodic=True)


@cache  # bounded: callers round the warp to 3 decimals, so at most ~1500 in [0.5, 2]
def _filters(warp: float) -> torch.Tensor:
    return torch.from_numpy(mel_filterbank(warp=warp)).float()


def as_16k(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """float64 [N'] at 16 kHz from a 1-D waveform at ``sample_rate`` Hz (polyphase filter)."""
    x = np.asarray(waveform, np.float64)
    if sample_rate == SAMPLE_RATE:
        return x
    ratio = Fraction(SAMPLE_RATE, int(sample_rate)).limit_denominator(10_000)
    return resample_poly(x, ratio.numerator, ratio.denominator)


def check_nonnegative(value, name: str, what: str = "number") -> float:
    """``value`` as a float; ValueError naming ``name`` unless it is a finite ``what`` >= 0."""
    try:
        x = float(value)
    except OverflowError:  # an int beyond float (its digits may be too many to print)
        raise ValueError(f"{name} must be a finite {what} >= 0, got a huge integer") from None
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite {what} >= 0, got {value!r}") from None
    if not (np.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite {what} >= 0, got {value}")
    return x


def add_dither(waveform: np.ndarray, dither: float) -> np.ndarray:
    """float32 ``waveform`` plus white noise of standard deviation ``dither`` (full scale 1),
    Kaldi-style, so digital silence is not exactly zero. The noise generator is seeded by a
    CRC-32 of the waveform's float32 samples: the same audio always gets the same noise, in
    training and in recognition. ``dither`` 0 returns the samples unchanged."""
    x = np.asarray(waveform, np.float32)
    if check_nonnegative(dither, "dither") == 0:
        return x
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(x).tobytes()))
    return (x + dither * rng.standard_normal(x.shape[0])).astype(np.float32)


def log_mel_energies(
    waveform: np.ndarray,
    dither: float = 0.0,
    warp: float = 1.0,
    dynamic_range_db: float = DYNAMIC_RANGE_DB,
) -> torch.Tensor:
    """Log mel-band energies float32 [1 + N // 160, 40] of a 16 kHz waveform [N], floored at
    ``dynamic_range_db`` below the utterance's peak band energy (digital silence stays finite;
    see the module doc), after :func:`add_dither` with ``dither`` (0: none); ``warp``: the
    filterbank's frequency warp (:func:`mel_filterbank`; drawn per utterance in training as
    VTLP, chosen per speaker at test time by :mod:`.vtln`)."""
    if not dynamic_range_db > 0:
        raise ValueError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
    x = torch.as_tensor(add_dither(waveform, dither))
    if x.shape[0] < WIN:
        x = torch.nn.functional.pad(x, (0, WIN - x.shape[0]))
    spec = torch.stft(
        x, N_FFT, HOP, WIN, _WINDOW, center=True, pad_mode="constant", return_complex=True
    )
    power = spec.real.square() + spec.imag.square()  # [F, T]
    mel = _filters(round(float(warp), 3)).T @ power  # [40, T]
    floor = mel.max().clamp(min=1e-20) * 10 ** (-dynamic_range_db / 10)
    return torch.log(torch.maximum(mel, floor)).T.contiguous()


def normalise(feats: torch.Tensor, speech_range_db: float = SPEECH_RANGE_DB) -> torch.Tensor:
    """Log mel energies [T, 40] (natural log) shifted and scaled per band to zero mean and unit
    variance over the *speech frames*: those whose total energy is within ``speech_range_db``
    of the loudest frame's, so that silence before, between and after the words does not move
    the statistics (see the module doc). [T, 40] -> [T, 40]."""
    if not speech_range_db > 0:
        raise ValueError(f"speech_range_db must be > 0, got {speech_range_db}")
    energy = torch.logsumexp(feats, 1)  # [T] log of each frame's total mel energy
    speech = energy >= energy.max() - speech_range_db * np.log(10) / 10
    ref = feats[speech] if int(speech.sum()) >= 2 else feats
    mean, std = ref.mean(0), ref.std(0, unbiased=False).clamp(min=1e-3)
    return ((feats - mean) / std).contiguous()


def log_mel(waveform: np.ndarray, dither: float = 0.0, warp: float = 1.0) -> torch.Tensor:
    """Normalised log-mel features float32 [1 + N // 160, 40] of a 16 kHz waveform [N]
    (``dither``: see :func:`add_dither`; ``warp``: see :func:`mel_filterbank`)."""
    return normalise(log_mel_energies(waveform, dither, warp))


def num_frames(num_samples: int) -> int:
    """Frames :func:`log_mel` gives for ``num_samples`` samples."""
    return 1 + max(num_samples, WIN) // HOP


def frame_seconds(stride: int = 1) -> float:
    """Seconds between frames after subsampling by ``stride``."""
    return stride * HOP / SAMPLE_RATE


def pad(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(padded [B, T_max, 40], lengths long [B]) from a list of [T_i, 40]: the batch the
    acoustic model takes, in training and in recognition alike."""
    lengths = torch.tensor([f.shape[0] for f in feats], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lengths
