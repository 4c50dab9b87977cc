"""Writers of the formats DefectFinder reads back: ImageJ TIFF, RosettaSciIO TIFF, NCEM EMD."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.core.atomic import atomic_output
from helpers.core.validation import check_pixel_size


def write_imagej_tiff(path, frames, pixel_size_A: float, overwrite: bool = False, shape=None) -> Path:
    """A float32 stack (or one frame) as an ImageJ TIFF with its calibration in nm (tifffile), as
    Fiji or a microscope export writes it. ``frames`` may be an iterable of frames when the stack's
    ``shape`` is given: they are written one by one, never held together in memory.

    Parameters
    ----------
    path : str or Path
        The TIFF to write (``.part`` first, renamed when complete).
    frames : ndarray (n, H, W) or (H, W), or iterable of (H, W) frames
        Intensities (any linear scale).
    pixel_size_A : float
        Pixel size (Å/px), stored as ImageJ's nm calibration.
    overwrite : bool
        Replace an existing file; without it an existing file raises FileExistsError.
    shape : tuple, optional
        (n, H, W) of the stack when ``frames`` is an iterable.

    Returns
    -------
    Path
        The file written.
    """
    import tifffile

    ps_nm = check_pixel_size(pixel_size_A) / 10
    if shape is None:
        data, extra = np.asarray(frames, np.float32), {}
        shape = data.shape
    else:
        data, extra = frames, {"shape": tuple(shape), "dtype": np.float32}
    with atomic_output(path, overwrite, ".part.tif") as tmp:
        tifffile.imwrite(tmp, data, imagej=True, resolution=(1 / ps_nm, 1 / ps_nm),
                         metadata={"unit": "nm", "axes": "ZYX" if len(shape) == 3 else "YX"}, **extra)
    return Path(path)


def write_rsciio_tiff(path, image, pixel_size_A: float, overwrite: bool = False) -> Path:
    """One frame as a TIFF written by RosettaSciIO, calibrated in nm.

    Parameters
    ----------
    path : str or Path
        The TIFF to write.
    image : ndarray (H, W)
        One frame.
    pixel_size_A : float
        Pixel size (Å/px), stored in nm.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    from rsciio.tiff import file_writer


    img = np.asarray(image, np.float32)
    axes = [{"name": n, "scale": check_pixel_size(pixel_size_A) / 10, "units": "nm", "size": s,
             "offset": 0, "navigate": False} for n, s in zip(("y", "x"), img.shape)]
    with atomic_output(path, overwrite, ".part.tif") as tmp:
        file_writer(str(tmp), {"data": img, "axes": axes, "metadata": {}, "original_metadata": {}})
    return Path(path)


def write_ncem_emd(path, image, pixel_size_A: float, overwrite: bool = False) -> Path:
    """One frame as an EMD 0.2 file in the Berkeley/NCEM layout (h5py): a group with
    ``emd_group_type = 1`` holding ``data`` and one ``dim`` dataset per axis (units "[n_m]").

    Parameters
    ----------
    path : str or Path
        The .emd file to write.
    image : ndarray (H, W)
        One frame.
    pixel_size_A : float
        Pixel size (Å/px), stored in nm.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    import h5py


    img = np.asarray(image, np.float32)
    ps_nm = check_pixel_size(pixel_size_A) / 10
    with atomic_output(path, overwrite, ".part.emd") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        g = f.create_group("data/haadf")
        g.attrs["emd_group_type"] = 1
        g.create_dataset("data", data=img)
        for k, name in ((1, "y"), (2, "x")):
            d = g.create_dataset(f"dim{k}", data=np.arange(img.shape[k - 1]) * ps_nm)
            d.attrs["name"], d.attrs["units"] = name, "[n_m]"  # NCEM unit notation
    return Path(path)
