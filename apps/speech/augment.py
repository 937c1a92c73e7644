"""Training-time augmentation: make one synthesiser's speech look like many voices, rooms and
channels, so the recogniser learns digits rather than espeak-ng.

Waveform functions take and return float64 [N] at 16 kHz (full scale 1); every random choice
comes from a ``numpy.random.Generator`` the caller seeds, so an augmented corpus is
reproducible. :func:`augment_waveform` chains the waveform ingredients an
:class:`Augmentation` turns on; VTLP happens in the filterbank (:func:`.features.log_mel` with
``warp``) and SpecAugment on features (:func:`spec_augment`), both driven by
:func:`.data.prepare` and :func:`.train.loader`.

Ingredients (names for :func:`parse`): speed (Kaldi-style 0.9/1.0/1.1 resampling: tempo and
pitch together), vtlp (mel-axis warp, a vocal-tract length), tilt (random spectral slope),
band (random band-limiting), reverb (synthetic room impulse responses), noise (coloured noise
at a random SNR), babble (other training utterances summed, at a random SNR), specaugment
(time and frequency masks), silence (random leading and trailing silence: a synthesiser's
utterances start and stop on their first and last sample, recordings never do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import torch
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from .features import SAMPLE_RATE

INGREDIENTS = (
    "speed", "vtlp", "tilt", "band", "reverb", "noise", "babble", "specaugment", "silence",
)  # fmt: skip


@dataclass(frozen=True)
class Augmentation:
    """Which ingredients are on (``on``, names from :data:`INGREDIENTS`) and their ranges.

    Each waveform ingredient is applied to an utterance with its probability ``p_*``; ranges
    are drawn uniformly. SNRs are against the utterance's mean power (pauses included)."""

    on: frozenset = frozenset()
    speeds: tuple[float, ...] = (0.9, 1.0, 1.1)
    vtlp_max: float = 0.12  # warp factor alpha in [1 - vtlp_max, 1 + vtlp_max]
    p_tilt: float = 0.5
    tilt_db_per_octave: float = 4.0  # slope in [-this, +this]
    p_band: float = 0.3
    p_reverb: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.7)  # seconds
    p_noise: float = 0.3
    p_babble: float = 0.2
    snr_db: tuple[float, float] = (5.0, 30.0)
    freq_masks: int = 2
    freq_width: int = 6  # mel bands, at most
    time_masks: int = 2
    time_width: int = 12  # frames, at most; and at most 10% of the utterance per mask
    silence_max: float = 0.5  # seconds of silence before and after, each in [0, this]

    def uses(self, name: str) -> bool:
        return name in self.on


NONE = Augmentation()


def parse(spec: str | None) -> Augmentation:
    """An :class:`Augmentation` from comma-separated ingredient names ("" or "none": none;
    "all": every one)."""
    if spec is None or spec.strip() in ("", "none"):
        return NONE
    names = INGREDIENTS if spec.strip() == "all" else [s.strip() for s in spec.split(",")]
    bad = [n for n in names if n not in INGREDIENTS]
    if bad:
        raise ValueError(
            f"unknown augmentation {bad[0]!r} in {spec!r}: use {','.join(INGREDIENTS)}"
        )
    return replace(NONE, on=frozenset(names))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi/sox ``speed`` perturbation: play ``x`` ``factor`` times faster by resampling
    (duration / factor; pitch and formants x factor). float64 [N] -> [~N / factor]."""
    if not 0.5 <= factor <= 2.0:
        raise ValueError(f"speed factor must be in [0.5, 2], got {factor}")
    if factor == 1.0:
        return np.asarray(x, np.float64)
    r = Fraction(factor).limit_denominator(100)
    return resample_poly(np.asarray(x, np.float64), r.denominator, r.numerator)


def vtlp_warp(freqs: np.ndarray, alpha: float, nyquist: float, boundary: float = 4800.0):
    """Vocal-tract-length warp of frequencies (Jaitly & Hinton 2013): f -> alpha f below
    ``boundary * min(alpha, 1) / alpha``, then linear to ``nyquist`` -> ``nyquist`` (so the
    band stays inside [0, nyquist]). alpha > 1 stretches the spectrum up (a shorter tract)."""
    f = np.asarray(freqs, np.float64)
    knee = boundary * min(alpha, 1.0) / alpha
    upper = nyquist - (nyquist - alpha * knee) * (nyquist - f) / (nyquist - knee)
    return np.where(f <= knee, alpha * f, upper)


def pad_silence(x: np.ndarray, lead_s: float, trail_s: float) -> np.ndarray:
    """``x`` with ``lead_s`` seconds of digital silence before it and ``trail_s`` after
    (float64 [N] -> [N + round(16000 lead_s) + round(16000 trail_s)])."""
    if not (lead_s >= 0 and trail_s >= 0 and max(lead_s, trail_s) <= 10.0):
        raise ValueError(f"silence must be in [0, 10] s, got {lead_s}, {trail_s}")
    lead, trail = round(lead_s * SAMPLE_RATE), round(trail_s * SAMPLE_RATE)
    return np.concatenate([np.zeros(lead), np.asarray(x, np.float64), np.zeros(trail)])


def spectral_tilt(x: np.ndarray, db_per_octave: float) -> np.ndarray:
    """Tilt the spectrum by ``db_per_octave`` around 1 kHz (gain 10^(s log2(f / 1 kHz) / 20),
    f floored at 100 Hz), keeping the RMS: a brighter or duller microphone or voice."""
    x = np.asarray(x, np.float64)
    if x.size == 0 or db_per_octave == 0:
        return x
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE), 100.0)
    y = np.fft.irfft(spec * 10 ** (db_per_octave * np.log2(f / 1000.0) / 20), n=x.size)
    return y * (_rms(x) / max(_rms(y), 1e-12))


def band_limit(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-pass ``x`` to [low_hz, high_hz] (4th-order Butterworth; low_hz 0: low-pass only)."""
    if not 0 <= low_hz < high_hz < SAMPLE_RATE / 2:
        raise ValueError(f"need 0 <= low < high < 8000 Hz, got {low_hz}, {high_hz}")
    if low_hz > 0:
        sos = butter(4, [low_hz, high_hz], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    else:
        sos = butter(4, high_hz, btype="lowpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, np.asarray(x, np.float64))


def room_impulse_response(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response float64 [~rt60 s]: a unit direct path, then after a
    1-10 ms pre-delay an exponentially decaying Gaussian tail (-60 dB at ``rt60`` s) whose
    energy is ``drr_db`` below the direct path (the direct-to-reverberant ratio)."""
    delay = int(rng.integers(16, 160))
    n = int(rt60 * SAMPLE_RATE)
    tail = rng.standard_normal(n) * np.exp(-6.908 * np.arange(n) / n)
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(float(np.sum(tail * tail)), 1e-12))
    h = np.zeros(delay + n)
    h[0] = 1.0
    h[delay:] += tail
    return h


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``rir``, cut to len(x) + the tail and rescaled to x's RMS."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return x
    y = fftconvolve(x, rir)[: x.size + len(rir) // 4]
    return y * (_rms(x) / max(_rms(y), 1e-12))


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise [n] with power spectrum ~ 1 / f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    y = np.fft.irfft(spec / f ** (exponent / 2), n=n)
    return y / max(_rms(y), 1e-12)


def babble(rng: np.random.Generator, others: Sequence[np.ndarray], n: int, talkers: int):
    """[n] of ``talkers`` utterances drawn from ``others`` (int16 or float), each at a random
    offset, looped to length n and summed; unit RMS (zeros if ``others`` is empty)."""
    out = np.zeros(n)
    if not len(others) or n == 0:
        return out
    for _ in range(talkers):
        o = np.asarray(others[int(rng.integers(len(others)))], np.float64)
        if o.size == 0:
            continue
        o = np.roll(np.resize(o, n), int(rng.integers(n)))
        out += o / max(_rms(o), 1e-12)
    return out / max(_rms(out), 1e-12)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` (same length) scaled to ``snr_db`` below x's mean power."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return x
    scale = np.sqrt(max(float(np.mean(x * x)), 1e-12) / 10 ** (snr_db / 10))
    return x + noise * (scale / max(_rms(noise), 1e-12))


def draw_warp(aug: Augmentation, rng: np.random.Generator) -> float:
    """A VTLP factor for one utterance (1.0 when vtlp is off)."""
    if not aug.uses("vtlp"):
        return 1.0
    return float(rng.uniform(1 - aug.vtlp_max, 1 + aug.vtlp_max))


def augment_waveform(
    x: np.ndarray,
    aug: Augmentation,
    rng: np.random.Generator,
    others: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, float, float]:
    """(augmented float64 waveform, speed factor, seconds of silence added before the speech)
    of ``x`` (float64 [N], full scale 1): speed, then silence around the utterance, then the
    room (reverb), then the channel (tilt, band), then noise or babble (from ``others``, other
    utterances of the training corpus), so that added silence is reverberant and noisy like
    the speech. A word starting at t s in ``x`` starts at t / speed + lead s in the result.
    Every draw is made whether or not its ingredient applies, so turning one on does not
    change the others' draws."""
    u = rng.random(5)
    speed = float(aug.speeds[int(rng.integers(len(aug.speeds)))])
    tilt = float(rng.uniform(-aug.tilt_db_per_octave, aug.tilt_db_per_octave))
    low, high = float(rng.choice([0.0, 100.0, 200.0, 300.0])), float(rng.uniform(3400, 7600))
    rt60, drr = float(rng.uniform(*aug.rt60)), float(rng.uniform(-3.0, 12.0))
    snr, exponent = float(rng.uniform(*aug.snr_db)), float(rng.choice([0.0, 1.0, 2.0]))
    talkers = int(rng.integers(3, 8))
    noise_rng = np.random.default_rng(rng.integers(2**63))
    lead, trail = (float(s) for s in rng.uniform(0.0, aug.silence_max, 2))
    speed = speed if aug.uses("speed") else 1.0
    lead, trail = (lead, trail) if aug.uses("silence") else (0.0, 0.0)
    x = pad_silence(speed_perturb(x, speed), lead, trail)
    if aug.uses("reverb") and u[0] < aug.p_reverb:
        x = reverberate(x, room_impulse_response(noise_rng, rt60, drr))
    if aug.uses("tilt") and u[1] < aug.p_tilt:
        x = spectral_tilt(x, tilt)
    if aug.uses("band") and u[2] < aug.p_band:
        x = band_limit(x, low, high)
    if aug.uses("babble") and u[3] < aug.p_babble and len(others):
        x = add_noise(x, babble(noise_rng, others, x.size, talkers), snr)
    elif aug.uses("noise") and u[4] < aug.p_noise:
        x = add_noise(x, coloured_noise(noise_rng, x.size, exponent), snr)
    return x, speed, lead


def spec_augment(feats: torch.Tensor, aug: Augmentation, rng: np.random.Generator):
    """SpecAugment (Park et al. 2019) without time warping: ``freq_masks`` bands of up to
    ``freq_width`` mel channels and ``time_masks`` spans of up to ``time_width`` frames (and
    10% of the utterance) set to 0, the mean of normalised features. [T, F] -> new [T, F]."""
    out = feats.clone()
    t_len, f_len = out.shape
    for _ in range(aug.freq_masks):
        w = int(rng.integers(0, aug.freq_width + 1))
        f0 = int(rng.integers(0, max(f_len - w, 0) + 1))
        out[:, f0 : f0 + w] = 0.0
    for _ in range(aug.time_masks):
        w = int(rng.integers(0, min(aug.time_width, t_len // 10) + 1))
        t0 = int(rng.integers(0, max(t_len - w, 0) + 1))
        out[t0 : t0 + w, :] = 0.0
    return out
