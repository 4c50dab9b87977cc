"""The halo width of the gain calibration, tested on the empty metal columns (helpers.detect.site_halo)."""
import numpy as np
import pandas as pd
import pytest

from helpers.detect import sites as st
from helpers.detect.site_halo import choose_halo, empty_metal_names
from helpers.synthetic.generator import generate_movie
from helpers.synthetic.params import standard_params
from test_sites import still


def _bias(bias, se=0.002, n=500):
    return pd.DataFrame({"halo_A": [1.0, 1.5, 2.0, 3.0], "bias": bias, "se": se, "n": n})


def test_the_default_width_stays_unless_its_empty_columns_read_off_zero():
    assert choose_halo(_bias([0.04, 0.015, 0.002, -0.01]), 2.0, 0.015) == 2.0  # the standard probe
    assert choose_halo(_bias([0.05, 0.003, -0.022, -0.04]), 2.0, 0.015) == 1.5  # a narrower tail
    assert choose_halo(_bias([0.05, 0.003, -0.022, -0.04], se=0.01), 2.0, 0.015) == 2.0  # within 4 se
    assert choose_halo(_bias([0.05, 0.003, -0.022, -0.04], n=20), 2.0, 0.015) == 2.0  # too few
    with pytest.raises(ValueError, match="default width"):
        choose_halo(_bias([0.0] * 4), 2.5, 0.015)
    with pytest.raises(ValueError, match="tolerance"):
        choose_halo(_bias([0.0] * 4), 2.0, -1.0)
    assert empty_metal_names({"metal": {"W": 1.0, "Mo": 0.6, "Vw": 0.0}, "chalcogen": {"S2": 0.5}}) == ["Vw"]


@pytest.mark.parametrize("tail_fwhm_A, tail_weight, narrower", [(None, None, False), (3.0, 0.08, True)])
def test_a_narrower_probe_tail_is_found_on_the_empty_columns(tail_fwhm_A, tail_weight, narrower):
    probe = {} if tail_fwhm_A is None else {"probe_fwhm_A": 0.9, "probe_tail_fwhm_A": tail_fwhm_A,
                                            "probe_tail_weight": tail_weight}
    m = generate_movie(standard_params(n_frames=12, frame_px=400, seed=5, dose_e_per_A2=2e4,
                                       kinetics=still("Vw", per_nm2=1.0), **probe), progress=False)
    r = st.read_sites(m.frames, 0.2)
    tested = pd.DataFrame(r.halo["tested"])
    assert tested["n"].iloc[0] >= 30
    assert (r.halo["halo_A"] < 2.0) == narrower, tested
    default = tested.loc[np.isclose(tested["halo_A"], 2.0), "bias"].iloc[0]
    assert abs(tested["bias"]).min() <= abs(default)
