"""abTEM simulation: defect signatures, determinism, bad input. Small fields keep this quick."""
import numpy as np
import pytest

from helpers.library.physics import defect_signature, signature_matches
from helpers.library.simulate import (
    ImagingConditions,
    apply_source_size,
    check_window,
    electron_wavelength_A,
    field_to_window,
    probe_fwhm_A,
    simulate_field,
)
from helpers.library.structures import CLASS_NAMES

FAST = ImagingConditions(phonon_configs=1)
WIN = 40  # 12 Å windows: enough pristine columns around the defect, cheap to simulate


@pytest.fixture(scope="module")
def windows():
    out = {}
    for name in CLASS_NAMES:
        field = simulate_field(name, FAST, field_A=WIN * 0.3 + 0.9, window_px=WIN)
        assert field.image.dtype == np.float32 and np.all(np.isfinite(field.image))
        out[name] = field_to_window(field, 0.0, 0.5, window_px=WIN)
    return out


def test_wavelength_and_probe():
    assert electron_wavelength_A(60e3) == pytest.approx(0.0487, abs=2e-4)
    assert 0.7 < probe_fwhm_A(ImagingConditions()) < 1.0


def _check(name, s):
    """Signature of each class at the window centre (helpers.library.physics.signature_matches)."""
    assert signature_matches(name, s), f"{name} window lacks its signature: {s}"


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_simulated_signature(windows, name):
    s = defect_signature(windows[name], 0.3)
    assert 0.1 < s.S2_ref / s.W_ref < 0.25, "pristine S2/W contrast out of the physical range"
    _check(name, s)


def test_same_seed_same_field():
    cond = ImagingConditions(phonon_configs=2, phonon_seed=5, potential_sampling_A=0.07)
    a = simulate_field("Vs2", cond, field_A=6.0, window_px=32)
    b = simulate_field("Vs2", cond, field_A=6.0, window_px=32)
    np.testing.assert_array_equal(a.image, b.image)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown defect class"):
        simulate_field("X", FAST)
    with pytest.raises(ValueError, match="pixel_size_A must be positive"):
        simulate_field("Vw", FAST, pixel_size_A=0.0)
    with pytest.raises(ValueError, match="smaller than the probe"):
        check_window(4, 0.3)
    with pytest.raises(ValueError, match="source_fwhm_A"):
        apply_source_size(np.ones((8, 8)), 0.3, -1.0)
    with pytest.raises(ValueError, match="missing"):
        apply_source_size(np.ones((8, 8)), None, 0.5)
