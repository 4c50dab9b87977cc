"""The simulated image library (notebook 00): the defect structures of monolayer WS2, the HAADF-STEM
simulation with abTEM, the detector model, and the library files.

Modules
-------
``detector``
    Detector effects shared by the movie renderer and the augmentation: counting noise and
    Public: ``apply_detector_noise``, ``scanline_jitter``.
``files``
    The simulated defect library: its specification, building, and HDF5 files.
    Public: ``LibrarySpec``, ``build_library``, ``cut_library_windows``, ``software_versions``,
    ``write_library``, ``Library``, ``load_library``, ``main``, ``resimulate_and_compare``.
``physics``
    Reading the physics out of a window: atomic-column peaks, defect signatures and line
    profiles.
    Public: ``column_contrast``, ``Signature``, ``column_peaks``, ``defect_signature``,
    ``defect_line_profile``, ``signature_matches``.
``simulate``
    HAADF-STEM simulation of WS2 defects with abTEM (PRISM multislice), and library windows.
    Public: ``ImagingConditions``, ``electron_wavelength_A``, ``probe_fwhm_A``,
    ``SimulatedField``, ``field_size_A``, ``simulate_cell``, ``simulate_cell_cached``,
    ``simulate_field``, ``check_window``,
    ``apply_source_size``, ``field_to_window``, ``projected_potential``.
``structures``
    Monolayer 2H-WS2 supercells with one point defect at the centre, or several (ASE); cells of
    any MX2 with substitutions and vacancies named in the column vocabulary.
    Public: ``class_index``, ``pristine_ws2``, ``pristine_tmd``, ``build_defect``,
    ``ws2_with_defects``, ``composition``, ``tmd_with_substitutions``.
"""
__all__ = ['detector', 'files', 'physics', 'simulate', 'structures']
