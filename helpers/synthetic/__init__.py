"""The synthetic STEM movie with known truth (notebook 00b): its parameters, the defect kinetics, the
rendering of columns into frames, and the movie file.

Modules
-------
``adatom_movie``
    Movies of single atoms hopping between the hollow sites of a 2H TMD, with their truth.
    Public: ``AdatomMovie``, ``hopping_adatoms``, ``adatom_movie``.
``files``
    The synthetic movie on disk: the :class:`Movie` record, its HDF5 file and the cached
    standard movie.
    Public: ``Movie``, ``same_defects``, ``movie_path``, ``save_movie``, ``load_movie``.
``generator``
    The synthetic experimental movie: beam-driven WS2 defect dynamics with ground truth.
    Public: ``simulate_kinetics``, ``generate_movie``, ``standard_movie``.
``multislice``
    Movies from a multislice simulation: one periodic cell made into frames with drift, a
    finite source, scan-line jitter and counting noise, with the truth.
    Public: ``shift_and_blur_periodic``, ``frames_from_cell``.
``params``
    Parameters of the synthetic movie: sample, kinetics, imaging (lengths in Å, times in
    frames).
    Public: ``KineticsParams``, ``MovieParams``, ``standard_params``.
``render``
    Rendering of atom columns into frames: probe kernels, splatting, the scan transform (px, Å).
    Public: ``probe_kernel``, ``splat``, ``render_columns``, ``frame_transform``.
``tmd_image``
    Images of any 2H TMD with chosen column contents on chosen sites (tests and experiments
    beyond the WS2 movie).
    Public: ``tmd_sites``, ``render_tmd``, ``plant_point_defects``, ``half_converted``, ``DOMAINS``,
    ``render_tmd_domain``.
"""
__all__ = ['adatom_movie', 'files', 'generator', 'multislice', 'params', 'render', 'tmd_image']
