"""A clipped black level is told from the zeros of low-dose counts (``helpers.io.intensity_checks``),
noted when a file is read, and named when the lattice cannot be read because of it."""
import numpy as np
import pytest

from helpers import AnalysisSettings, analyze_file
from helpers.core.chemistry import chemistry_of
from helpers.core.validation import InputError
from helpers.io import readers as fm
from helpers.io.intensity_checks import clipped_black_share, intensity_notes
from helpers.synthetic.tmd_image import render_tmd

WS2 = chemistry_of("WS2", None)


def _frame(dose: float, size: int = 256, seed: int = 0) -> np.ndarray:
    return render_tmd(WS2, {}, 0.2, size, dose, np.random.default_rng(seed))[0]


def _stretch(img, clip_share: float, levels: int | None = None) -> np.ndarray:
    """A contrast-stretched export: everything below the ``clip_share`` quantile black."""
    lo = np.quantile(img, clip_share)
    out = np.clip((img - lo) / (img.max() - lo), 0, 1)
    return np.round(out * (levels - 1)).astype(np.uint8) if levels else out.astype(np.float32)


@pytest.mark.parametrize("dose", [10, 30, 100, 300, 1e3, 1e4, 1e5])
def test_shot_noise_zeros_and_full_range_exports_are_not_clipping(dose):
    """Counts of a dim background (up to 95 % zeros at 10 e/Å²) fall smoothly from zero: no pile-up,
    as stored, as 16 bits, or stretched over the full 8-bit range."""
    img = _frame(dose)
    assert clipped_black_share(img) == 0.0
    assert clipped_black_share(img.astype(np.uint16)) == 0.0
    assert clipped_black_share(_stretch(img, 0.0, 256)) == 0.0
    assert not any("black level" in n for n in intensity_notes(img.astype(np.uint16), np.uint16))


@pytest.mark.parametrize("dose", [1e4, 1e5])
@pytest.mark.parametrize("share, levels", [(0.02, None), (0.12, None), (0.5, None), (0.12, 256), (0.5, 256)])
def test_a_clipped_black_level_is_measured(dose, share, levels):
    """Float exports from 2 % clipped on; 8-bit ones where the clip goes deeper than the one or two
    levels that already hold a few per cent of the pixels each (5 % at 10⁵ e/Å² is 1.4 levels: not
    told from the histogram, and hardly changes a reading)."""
    img = _stretch(_frame(dose), share, levels)
    # the counts tied at the clip level, and with 8 bits those within half a level of it, go black too
    assert share <= clipped_black_share(img) <= 1.5 * share
    assert any("clipped black level" in n for n in intensity_notes(img, img.dtype))


def test_padding_rows_and_columns_are_not_clipping():
    """A registered frame padded with zeros on two sides: the padding is not a clipped black level."""
    img = _frame(1e4).astype(np.float32)
    img[:20] = 0
    img[:, -15:] = 0
    assert clipped_black_share(img) == 0.0
    img[40:, :100] = np.clip(img[40:, :100] - np.quantile(img, 0.3), 0, None)  # now clipped inside too
    assert clipped_black_share(img) > 0.05


def test_reading_a_clipped_export_warns_and_a_lost_sublattice_is_named(tmp_path):
    import imageio.v3 as iio

    img = _frame(1e4, 320)
    p = tmp_path / "export.png"
    iio.imwrite(p, _stretch(img, 0.12, 256))
    fr = fm.read_frames(p, pixel_size_A=0.2)
    assert any("clipped black level" in w for w in fr.warnings)
    iio.imwrite(p, _stretch(img, 0.75, 256))  # the S2 columns are gone
    with pytest.raises(InputError, match="cannot be read.*clipped black level"):
        analyze_file(p, tmp_path / "out", AnalysisSettings(pixel_size_A=0.2, quiet=True))
