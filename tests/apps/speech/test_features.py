"""Log-mel features: the mel matrix's known properties, shapes and normalisation."""

import numpy as np
import pytest

from apps.speech import features as F


def test_htk_mel_scale_reference_points():
    # HTK's scale maps 1 kHz to ~1000 mel, and 700 Hz to 2595 log10(2)
    assert F.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)
    assert F.hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    f = np.array([0.0, 300.0, 4000.0, 8000.0])
    np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(f)), f, atol=1e-9)


def test_mel_matrix_is_triangles_in_increasing_order():
    fb = F.mel_filterbank(40, 512, 16_000)
    assert fb.shape == (257, 40)
    assert (fb >= 0).all() and fb.max() <= 1.0
    assert (fb.sum(0) > 0).all()  # no empty filter
    peaks = fb.argmax(0)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]
    # each filter is one triangle: non-zero on one contiguous run of bins
    for m in range(40):
        nz = np.flatnonzero(fb[:, m])
        assert nz[-1] - nz[0] + 1 == nz.size
    # neighbouring triangles cross: between two centres the two filters sum to 1
    freqs = np.linspace(0, 8000, 257)
    centres = F.mel_to_hz(np.linspace(F.hz_to_mel(20.0), F.hz_to_mel(8000.0), 42))[1:-1]
    between = (freqs > centres[10]) & (freqs < centres[11])
    np.testing.assert_allclose(fb[between, 10] + fb[between, 11], 1.0, atol=1e-9)


def test_nothing_above_f_max():
    fb = F.mel_filterbank(20, 512, 16_000, f_min=100.0, f_max=4000.0)
    freqs = np.linspace(0, 8000, 257)
    assert fb[freqs > 4000.0].sum() == 0 and fb[freqs < 100.0].sum() == 0


def test_a_pure_tone_lights_the_band_around_its_frequency():
    t = np.arange(16_000) / 16_000
    feats = F.log_mel_energies(0.5 * np.sin(2 * np.pi * 1000.0 * t)).numpy()
    band = int(np.argmax(feats.mean(0)))
    centres = F.mel_to_hz(np.linspace(F.hz_to_mel(20.0), F.hz_to_mel(8000.0), 42))[1:-1]
    assert abs(centres[band] - 1000.0) < 100.0


def test_shapes_and_per_utterance_normalisation():
    x = np.random.default_rng(0).standard_normal(12_345) * 0.1
    feats = F.log_mel(x)
    assert tuple(feats.shape) == (F.num_frames(12_345), 40) == (1 + 12_345 // 160, 40)
    np.testing.assert_allclose(feats.mean(0).numpy(), 0.0, atol=1e-4)
    np.testing.assert_allclose(feats.std(0, unbiased=False).numpy(), 1.0, atol=1e-3)
    assert F.log_mel(np.zeros(10)).shape == (F.num_frames(10), 40)  # too short: padded


def test_resampling_to_16k_keeps_duration():
    x = np.random.default_rng(1).standard_normal(22_050)
    assert F.as_16k(x, 22_050).shape == (16_000,)
    assert F.as_16k(x, 16_000) is not None and F.as_16k(x, 16_000).shape == (22_050,)
    assert F.as_16k(x[:8000], 8000).shape == (16_000,)


def _speech_with_digital_silence():
    rng = np.random.default_rng(3)
    t = np.arange(16_000) / 16_000
    x = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(t.size)  # speech-like level
    x[4000:12000] = 0.0  # half a second of exact digital silence, as espeak's pauses
    return x


def test_dither_zero_leaves_features_unchanged():
    x = _speech_with_digital_silence()
    assert np.array_equal(F.add_dither(x, 0.0), x.astype(np.float32))
    np.testing.assert_array_equal(F.log_mel(x, 0.0).numpy(), F.log_mel(x).numpy())
    np.testing.assert_array_equal(F.log_mel_energies(x, dither=0).numpy(),
                                  F.log_mel_energies(x).numpy())  # fmt: skip


def test_dither_lifts_digital_silence_off_the_floor():
    x = _speech_with_digital_silence()
    silent = slice(4000 // F.HOP + 3, 12000 // F.HOP - 3)  # frames wholly inside the pause
    plain = F.log_mel_energies(x, dynamic_range_db=80)
    floor = plain.min()
    assert bool((plain[silent] == floor).all())  # without dither: every band at the floor
    d = F.log_mel_energies(x, 3e-4, dynamic_range_db=80)  # a floor below the dither's level
    clamp = d.max() - 80 / 10 * np.log(10)  # the 80 dB floor, natural log
    # with it: a noise floor above the clamp (the narrow low bands may still dip to it rarely)
    assert float((d[silent] <= clamp + 1e-4).float().mean()) < 0.01
    assert float(d[silent].median()) > float(clamp) + 2.0
    assert np.isfinite(F.log_mel(x, 3e-4).numpy()).all()
    # speech frames barely move (the dither is ~50 dB below this signal)
    np.testing.assert_allclose(d[:20].numpy(), plain[:20].numpy(), atol=0.05)


def test_a_40_db_floor_hides_what_is_quieter_than_a_recordings_noise_floor():
    # a synthesiser's pause may hold faint structure (a diphone's residual, a fade) 50 dB
    # below the speech; a recording's noise floor would bury it, and so does a 40 dB floor
    x = _speech_with_digital_silence()
    t = np.arange(8000) / 16_000
    faint = x.copy()
    faint[4000:12000] = 10 ** (-50 / 20) * 0.1 * np.sin(2 * np.pi * 700 * t)
    silent = slice(4000 // F.HOP + 3, 12000 // F.HOP - 3)  # frames wholly inside the pause
    np.testing.assert_array_equal(
        F.log_mel_energies(faint, dynamic_range_db=40)[silent].numpy(),
        F.log_mel_energies(x, dynamic_range_db=40)[silent].numpy(),
    )
    # with an 80 dB range the faint tone shows in its band, and changes the features
    wide = [F.log_mel_energies(y, dynamic_range_db=80)[silent] for y in (faint, x)]
    assert float((wide[0] - wide[1]).abs().max()) > 5.0
    # the floor is the peak band energy minus the range, in natural-log units
    for db in (40, F.DYNAMIC_RANGE_DB):
        e = F.log_mel_energies(x, dynamic_range_db=db)
        assert float(e.min()) == pytest.approx(float(e.max()) - db * np.log(10) / 10)
    with pytest.raises(ValueError, match="dynamic_range_db"):
        F.log_mel_energies(x, dynamic_range_db=0)


def test_dither_is_deterministic_per_utterance():
    x = _speech_with_digital_silence()
    a, b = F.add_dither(x, 1e-3), F.add_dither(x.copy(), 1e-3)
    np.testing.assert_array_equal(a, b)
    assert abs(float(np.std(a[4000:12000])) - 1e-3) < 1e-4
    np.testing.assert_array_equal(F.log_mel(x, 1e-3).numpy(), F.log_mel(x, 1e-3).numpy())
    y = x.copy()
    y[0] += 1e-3  # different audio: different noise
    assert not np.array_equal(F.add_dither(y, 1e-3)[4000:12000], a[4000:12000])
    with pytest.raises(ValueError, match="dither"):
        F.add_dither(x, -1e-4)


def test_silence_around_the_words_does_not_move_the_normalisation():
    # a recording has far more silence around its words than a synthesiser's output; the
    # speech frames' features must not depend on how much
    rng = np.random.default_rng(4)
    t = np.arange(16_000) / 16_000
    syllables = 0.02 + 0.2 * np.sin(2 * np.pi * 4 * t) ** 2  # speech-like: loud and soft parts
    x = syllables * (np.sin(2 * np.pi * 440 * t) + rng.standard_normal(t.size))
    pad = np.zeros(8000)
    tight, padded = F.log_mel(x, 3e-4), F.log_mel(np.concatenate([pad, x, pad]), 3e-4)
    inner = slice(3, 16_000 // F.HOP - 3)  # frames wholly inside the speech
    shift = 8000 // F.HOP
    np.testing.assert_allclose(
        padded[shift + inner.start : shift + inner.stop].numpy(), tight[inner].numpy(), atol=0.1
    )
    # the silence itself sits far below the speech frames' mean
    assert float(padded[: shift - 3].mean()) < -1.0
    # white noise: every frame is speech, so this is plain per-band CMVN
    noise = np.random.default_rng(0).standard_normal(8000) * 0.1
    plain = F.log_mel_energies(noise)
    expected = (plain - plain.mean(0)) / plain.std(0, unbiased=False)
    np.testing.assert_allclose(F.normalise(plain).numpy(), expected.numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="speech_range_db"):
        F.normalise(plain, speech_range_db=-1)
