"""Acoustic conditions applied to clean synthesised audio: additive white noise at a given
signal-to-noise ratio and an optional telephone band (300-3,400 Hz).

SNR is measured against the mean power of the whole utterance (pauses included). Conditions
are named "clean", "20dB", "10dB" (any "<n>dB"); the noise is drawn from a seeded generator so
a corpus at a condition is always the same audio.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

CONDITIONS = ("clean", "20dB", "10dB")
_TELEPHONE = butter(6, [300.0, 3400.0], btype="bandpass", fs=16_000, output="sos")


def snr_db(condition: str) -> float | None:
    """The SNR of ``condition`` in dB (None for "clean")."""
    if condition == "clean":
        return None
    if condition.endswith("dB"):
        try:
            return float(condition[:-2])
        except ValueError:
            pass
    raise ValueError(f"condition must be 'clean' or '<n>dB' (e.g. '10dB'), got {condition!r}")


def apply(
    audio: np.ndarray, condition: str, rng: np.random.Generator, phone: bool = False
) -> np.ndarray:
    """float64 waveform in [-1, 1] scale from int16 (or float) ``audio`` under ``condition``."""
    x = np.asarray(audio, np.float64)
    if audio.dtype == np.int16:
        x = x / 32768.0
    if phone:
        x = sosfilt(_TELEPHONE, x)
    snr = snr_db(condition)
    if snr is not None and x.size:
        power = max(float(np.mean(x * x)), 1e-12)
        x = x + rng.standard_normal(x.shape[0]) * np.sqrt(power / 10 ** (snr / 10))
    return x
