"""Your files: reading, writing, checking, recording (notebook 08): microscope file formats with their
pixel sizes, the calibration check against the lattice, result folders that never lose data, the
metrics records of the notebooks and the README's results table.

Modules
-------
``calibration``
    Calibration checks: the pixel size against the lattice of the named material (Å/px).
    Public: ``column_spacing_A``, ``check_sampling``, ``estimate_pixel_size``,
    ``check_calibration``.
``intensity_checks``
    What the intensities say about how a file was written: integer and 8-bit data, saturation,
    a clipped black level.
    Public: ``CLIPPED_NOTE_SHARE``, ``CLIPPED_BLACK``, ``clipped_black_share``, ``intensity_notes``.
``layout``
    The frame axis of arrays saved without axis names (.npy, .npz, .h5, .mat), and MATLAB files.
    Public: ``frames_last``, ``frames_first``, ``read_mat``.
``readers``
    Reading microscope files: images and stacks with their pixel size, through RosettaSciIO and
    Public: ``Frames``, ``select_frames``, ``read_frames``, ``to_frame_stack``,
    ``to_float_frames``, ``require_pixel_size``, ``check_frames_usable``.
``records``
    Headline numbers of each notebook, written to ``results/metrics/<notebook>.json``.
    Public: ``versions``, ``jsonable``, ``write_metrics``, ``read_metrics``, ``write_record``.
``report``
    Build the results tables from ``results/metrics/*.json`` (paper profile): the headline rows
    in
    Public: ``table``, ``render``, ``targets``, ``main``.
``result_folder``
    The command's output folder: checked before any work, built aside, swapped in atomically.
    Public: ``umask``, ``previous_result_problem``, ``check_not_input_or_cwd``,
    ``check_output_folder``, ``recover_leftovers``, ``ResultFolder``.
``stacks``
    Frame stacks read lazily: a (n, H, W) float32 view of a file's frames, read and checked
    frame by frame (NumPy memory maps, uncompressed TIFF, HDF5 datasets).
    Public: ``FrameStack``.
``tiff``
    TIFF reading: memory-mapped frames, the completeness check and the pixel size from the tags.
``units``
    Length units of file metadata (to Å) and the one-line error that names a file and its
    problem.
``writers``
    Writers of the formats DefectFinder reads back: ImageJ TIFF, RosettaSciIO TIFF, NCEM EMD.
    Public: ``write_imagej_tiff``, ``write_rsciio_tiff``, ``write_ncem_emd``.
"""
__all__ = ['calibration', 'intensity_checks', 'layout', 'readers', 'records', 'report', 'result_folder', 'stacks', 'tiff', 'units', 'writers']
