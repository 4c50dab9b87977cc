"""The poster's classifier (notebooks 01, 03, 04, 05): noise augmentation, the data splits, the CNN,
its grid search and its class activation maps.

Modules
-------
``augment``
    Augmentation of the simulated library into the classifier's data set.
    Public: ``AugmentParams``, ``normalize``, ``affine_window``, ``add_noise``, ``distort_one``,
    ``augment_one``, ``AugmentedSet``, ``source_indices``, ``augment_images``,
    ``augment_library``.
``augmented_sets``
    Augmented sets on disk: written once per (library, size, seed) under
    ``data/generated/augmented/`` and read back (notebook 01 makes them; 03-05 read them).
    Public: ``save_augmented``, ``load_augmented``, ``augmented_path``, ``get_augmented``.
``cams``
    Class activation maps (Zhou et al., CVPR 2016) of the classifier and their peak positions
    (px, Å).
    Public: ``cam_weights``, ``class_activation_maps``, ``upsample_cams``, ``cam_peak``,
    ``cam_position_offsets_A``, ``cam_position_errors_A``.
``classifier``
    The defect classifier (Keras) and its class activation maps.
    Public: ``build_classifier``, ``as_input``, ``TrainResult``, ``compile_schedule``,
    ``train_result``, ``train``, ``predict``, ``mirror``, ``stack_views``, ``unmirror_mean``,
    ``predict_flips``, ``load_classifier``.
``gridsearch``
    Learning-rate × dropout grid search with keras-tuner's GridSearch.
    Public: ``run_grid_search``.
``protocol``
    The data protocol of the classifier: the poster's random split, the fit/validation split of
    the
    Public: ``random_split``, ``fit_validation_split``, ``poster_splits``, ``PosterData``,
    ``poster_data``.
"""
__all__ = ['augment', 'augmented_sets', 'cams', 'classifier', 'gridsearch', 'protocol']
