"""Training augmentation: each ingredient does what its name says, seeded draws repeat, and
prepare / loader apply them only when asked."""

import numpy as np
import pytest
import torch

from apps.speech import augment, features
from apps.speech.augment import SAMPLE_RATE
from apps.speech.data import condition_waveform, prepare
from apps.speech.train import loader


def _tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return 0.3 * np.sin(2 * np.pi * hz * t)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)[np.argmax(spec)])


def _band_rms(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    return float(np.sqrt(spec[(f >= lo) & (f < hi)].sum()))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_duration_and_pitch_together(factor):
    y = augment.speed_perturb(_tone(500.0), factor)
    assert abs(y.size - 8000 / factor) <= 2
    assert abs(_peak_hz(y) - 500.0 * factor) < 5.0
    assert augment.speed_perturb(_tone(500.0), 1.0).size == 8000
    with pytest.raises(ValueError, match="speed factor"):
        augment.speed_perturb(_tone(500.0), 3.0)


def test_vtlp_warp_is_monotone_fixes_the_ends_and_scales_low_frequencies():
    f = np.linspace(0, 8000, 257)
    for alpha in (0.88, 1.0, 1.12):
        w = augment.vtlp_warp(f, alpha, 8000.0)
        assert np.all(np.diff(w) > 0) and w[0] == 0 and abs(w[-1] - 8000) < 1e-9
        np.testing.assert_allclose(w[f < 1000], alpha * f[f < 1000])
    # warped filters move a tone's energy to a different mel band
    x = _tone(1500.0)
    plain = features.log_mel_energies(x).mean(0).argmax()
    stretched = features.log_mel_energies(x, warp=1.12).mean(0).argmax()
    assert stretched > plain
    with pytest.raises(ValueError, match="warp"):
        features.mel_filterbank(warp=0.1)


def test_spectral_tilt_brightens_or_dulls_and_keeps_rms():
    x = _tone(300.0) + _tone(4000.0)
    up, down = augment.spectral_tilt(x, 4.0), augment.spectral_tilt(x, -4.0)
    ratio = lambda y: _band_rms(y, 3000, 5000) / _band_rms(y, 200, 400)  # noqa: E731
    assert ratio(up) > 2 * ratio(x) > 4 * ratio(down)
    np.testing.assert_allclose(np.sqrt(np.mean(up**2)), np.sqrt(np.mean(x**2)), rtol=1e-6)


def test_band_limit_removes_what_is_outside_the_band():
    x = _tone(1000.0) + _tone(6000.0)
    y = augment.band_limit(x, 300.0, 3400.0)
    assert _band_rms(y, 5500, 6500) < 0.01 * _band_rms(x, 5500, 6500)
    assert _band_rms(y, 900, 1100) > 0.8 * _band_rms(x, 900, 1100)
    with pytest.raises(ValueError, match="low < high"):
        augment.band_limit(x, 4000.0, 3000.0)


def test_room_impulse_response_decays_and_has_the_asked_direct_to_reverberant_ratio():
    rng = np.random.default_rng(0)
    h = augment.room_impulse_response(rng, rt60=0.5, drr_db=6.0)
    assert h[0] == 1.0
    tail = h[1:]
    np.testing.assert_allclose(10 * np.log10(1.0 / np.sum(tail**2)), 6.0, atol=1e-6)
    n = tail.size
    assert np.sum(tail[: n // 4] ** 2) > 20 * np.sum(tail[-n // 4 :] ** 2)
    y = augment.reverberate(_tone(700.0), h)
    assert y.size > 8000  # the room's tail rings on
    again = augment.room_impulse_response(np.random.default_rng(0), 0.5, 6.0)
    np.testing.assert_array_equal(h, again)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_additive_noise_has_the_asked_snr(snr):
    rng = np.random.default_rng(1)
    x = _tone(440.0)
    for noise in (augment.coloured_noise(rng, x.size, 1.0),
                  augment.babble(rng, [_tone(200.0), _tone(900.0, 0.3)], x.size, 4)):  # fmt: skip
        y = augment.add_noise(x, noise, snr)
        measured = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert abs(measured - snr) < 1e-6


def test_pink_noise_has_more_low_than_high_energy_and_babble_needs_others():
    n = augment.coloured_noise(np.random.default_rng(2), 16000, 1.0)
    assert _band_rms(n, 100, 200) > 2 * _band_rms(n, 4000, 4100)
    assert not augment.babble(np.random.default_rng(0), [], 100, 3).any()


def test_spec_augment_masks_bands_and_spans_with_zeros_only():
    aug = augment.Augmentation(freq_masks=1, freq_width=6, time_masks=1, time_width=10)
    feats = torch.randn(200, 40) + 5.0  # no zeros before masking
    out = augment.spec_augment(feats, aug, np.random.default_rng(3))
    masked = out == 0
    assert masked.any()
    cols, rows = masked.all(0).sum(), masked.all(1).sum()
    assert cols <= 6 and rows <= 10 and (cols > 0 or rows > 0)
    assert torch.equal(out[~masked], feats[~masked])
    assert torch.equal(out, augment.spec_augment(feats, aug, np.random.default_rng(3)))


def test_parse_names_and_rejects_unknown():
    assert augment.parse("").on == frozenset() and augment.parse("none") == augment.NONE
    assert augment.parse("speed,vtlp").on == {"speed", "vtlp"}
    assert augment.parse("all").on == set(augment.INGREDIENTS)
    with pytest.raises(ValueError, match="unknown augmentation 'echo'"):
        augment.parse("speed,echo")


def test_prepare_without_augmentation_is_unchanged_and_with_it_is_seeded(tiny_corpus):
    plain = prepare(tiny_corpus, seed=4)
    again = prepare(tiny_corpus, seed=4, augmentation=augment.NONE)
    for a, b in zip(plain.features, again.features, strict=True):
        assert torch.equal(a, b)
    aug = augment.parse("speed,vtlp,tilt,band,reverb,noise,babble")
    one = prepare(tiny_corpus, seed=4, augmentation=aug, copies=2)
    two = prepare(tiny_corpus, seed=4, augmentation=aug, copies=2)
    assert len(one) == 2 * len(tiny_corpus)
    assert all(torch.equal(a, b) for a, b in zip(one.features, two.features, strict=True))
    assert one.words[0] == one.words[1] == tiny_corpus.utterances[0].words
    changed = sum(
        a.shape != b.shape or not torch.equal(a, b)
        for a, b in zip(plain.features, one.features[::2], strict=True)
    )
    assert changed >= len(tiny_corpus) // 2
    with pytest.raises(ValueError, match="copies"):
        prepare(tiny_corpus, copies=0)


def test_loader_masks_only_with_specaugment(tiny_prepared):
    plain = next(iter(loader(tiny_prepared, 4, shuffle=False)))[0][0]
    masked = next(iter(loader(tiny_prepared, 4, False, augment.parse("specaugment"), seed=0)))[0][0]
    assert plain.shape == masked.shape and not torch.equal(plain, masked)
    assert ((masked == 0) | (masked == plain)).all()


def test_test_waveform_is_the_audio_prepare_makes_features_of(tiny_corpus):
    data = prepare(tiny_corpus, ("10dB",), seed=9, dither=3e-4)
    for i in (0, 5):
        x = condition_waveform(tiny_corpus.utterances[i].audio, "10dB", 9, i)
        assert torch.equal(features.log_mel(x, 3e-4), data.features[i])


def test_silence_pads_the_utterance_and_moves_its_word_times(tiny_corpus):
    x = _tone(300.0)
    y = augment.pad_silence(x, 0.25, 0.1)
    assert y.size == x.size + 4000 + 1600
    assert not y[:4000].any() and not y[-1600:].any() and np.array_equal(y[4000:-1600], x)
    with pytest.raises(ValueError, match="silence"):
        augment.pad_silence(x, -0.1, 0.0)
    # in the chain: zeros before and after the speech, the lead returned, the other draws kept
    aug = augment.parse("speed,silence")
    out, speed, lead = augment.augment_waveform(x, aug, np.random.default_rng(5))
    ref, ref_speed, no_lead = augment.augment_waveform(
        x, augment.parse("speed"), np.random.default_rng(5)
    )
    assert speed == ref_speed and no_lead == 0.0 and 0.0 < lead <= aug.silence_max
    start = round(lead * SAMPLE_RATE)
    assert not out[:start].any() and np.array_equal(out[start : start + ref.size], ref)
    assert out.size > ref.size
    # prepare moves the words' start times by the silence it added before them
    data = prepare(tiny_corpus, seed=4, augmentation=augment.parse("silence"))
    for i, u in enumerate(tiny_corpus.utterances[:4]):
        shift = data.word_starts[i] - u.word_starts
        assert np.allclose(shift, shift[0]) and shift[0] > 0
        frames = features.num_frames(len(u.audio))
        assert data.features[i].shape[0] > frames  # the padded utterance is longer
