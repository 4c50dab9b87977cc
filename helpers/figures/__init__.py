"""The figures of the notebooks, by topic: a shared style, and the library, classifier, movie,
analysis and tracking figures.

Modules
-------
``analysis``
    Figures of notebooks 02 and 06: the FFT method, localizer maps, detection scores, overlays
    and
    Public: ``plot_fft_method``, ``plot_localizer_training``, ``plot_maps``,
    ``plot_scores_per_frame``, ``plot_recall_by_class``, ``overlay_detections``,
    ``overlay_areas``, ``plot_overlays``, ``plot_confusion``, ``write_animation``,
    ``plot_column_ratios``.
``classifier``
    Figures of notebooks 01, 03, 04 and 05: augmented examples, learning curves, confusion
    matrices,
    Public: ``plot_augmented_examples``, ``plot_learning_curves``, ``plot_confusions``,
    ``plot_misclassified``, ``plot_grid_tables``, ``plot_cam_grid``.
``library``
    Figures of notebook 00: structure models, simulation steps, the library grid, line profiles.
    Public: ``plot_structures``, ``plot_library_grid``, ``plot_simulation_steps``,
    ``plot_line_profiles``, ``plot_resimulation_check``.
``movie``
    Figures of the synthetic movie: truth overlay, class zooms, true counts over time, dose
    series.
    Public: ``overlay_truth``, ``plot_frame_with_truth``, ``plot_class_zooms``,
    ``plot_true_counts``, ``plot_dose_series``.
``results``
    The command's figures in its result folder: overlays of the first and last frame (with the
    masked areas of a site reading and the edge of the area where defects are reported) and, for
    stacks, the counts per class over time (frames from 1).
    Public: ``write_result_figures``, ``read_area``, ``read_area_edge``.
``style``
    Figure helpers: consistent style, and saving every figure to the profile's figures folder.
    Public: ``class_role``, ``class_colour``, ``class_marker``, ``savefig``, ``scalebar``,
    ``show_image``, ``palette_png``, ``inline_figures_at_screen_weight``.
``tracking``
    Figures of notebook 07: counts over time, the broom graph, transition matrices, MSD curves, adatom
    tracks.
    Public: ``plot_counts``, ``plot_broom``, ``plot_transitions``, ``plot_msd``, ``plot_adatom_tracks``.
"""
__all__ = ['analysis', 'classifier', 'library', 'movie', 'results', 'style', 'tracking']
