"""Finding the defects of a movie or an image (notebooks 02, 06): drift registration, the FFT labels
and the poster's pixel-wise localizer, the column lattice and column contents, areas the lattice
does not describe, the reading of every lattice site (the default detector) and the analysis
pipeline.

Modules
-------
``adatoms``
    Single atoms on the hollow sites of the 2H lattice: found, listed, and kept out of their
    neighbours' readings.
    Public: ``ADATOM_Z``, ``search_sites``, ``find_adatoms``, ``reread_beside``, ``adatom_table``,
    ``adatom_csv``, ``adatom_summary``.
``areas``
    Areas the lattice does not describe: holes, amorphous contamination, thicker layers, other
    grains.
    Public: ``AreaParams``, ``AreaMap``, ``rim_px``, ``local_fields``, ``lattice_amplitude``, ``in_phase_amplitude``,
    ``find_areas``.
``cache``
    The cached analysis table of a movie (CSV under ``data/generated/analysis``).
    Public: ``analysis_path``, ``write_table``, ``load_or_analyze``.
``column_model``
    The column model: the lattice record and the least-squares patch fit of column amplitudes
    (px, Å).
    Public: ``ColumnLattice``, ``haadf_exponent``.
``column_reading``
    Classes of detections read from column intensities: the second reading of the poster's path
    Public: ``column_classes``.
``columns``
    Quantitative HAADF: atomic-column intensities on the fitted lattice, and defect classes from
    them.
    Public: ``expected_contents``, ``column_ratios``, ``site_keys``, ``average_over_site``,
    ``classify_ratios``.
``dopant_levels``
    The reading of a named dopant measured on the image itself, where enough of its sites are there.
    Public: ``NAMED_DOPANT_WEIGHT``, ``DopantLevels``, ``fit_dopant_levels``, ``named_dopant_contents``,
    ``named_dopant_split``.
``field_size``
    How many lattice sites a frame must hold for the site reading to measure itself on them.
    Public: ``MIN_SITES``, ``FEW_SITES``, ``few_sites_note``.
``grains``
    A second grain read with its own lattice.
    Public: ``GrainParams``, ``Grain``, ``orientation_deg``, ``find_other_grains``,
    ``read_other_grains``.
``hollow_sites``
    Areas of another phase: atoms on the hollow sites of the 2H lattice (1T, inversion domains).
    Public: ``HOLLOW_SHARE``, ``HOLLOW_Z``, ``FILLED_SHARE``, ``hollow_offset``, ``measure_hollows``,
    ``smoothed``, ``other_phase``, ``stamp_other_phase``, ``other_phase_note``.
``lattice``
    The column lattice fitted on the data: vectors, sublattice placement, column width (Å, px).
    Public: ``lattice_origin``, ``fit_column_lattice``, ``patch_centres``.
``localizer``
    The pixel-wise defect localizer: a small fully convolutional encoder–decoder.
    Public: ``LocalizerParams``, ``normalize_frame``, ``network_input``, ``resample_frame``,
    ``probability_maps``, ``detections_from_map``, ``save_localizer``, ``load_localizer``.
``localizer_training``
    Training the pixel-wise localizer (notebook 02): labels from the FFT method, training crops
    with dose thinning, the network and its training on one frame (or a registered sum of the
    first frames).
    Public: ``build_localizer``, ``disc_labels``, ``fft_detections``, ``training_crops``,
    ``LocalizerTraining``, ``train_localizer``.
``off_levels``
    Defect classes whose readings sit off their level, and sites above every listed content: a
    content the chemistry does not list, with the unlisted contents (and atoms on top of a column)
    that would read near them.
    Public: ``OFF_LEVEL_MIN_SITES``, ``OFF_LEVEL_SHIFT``, ``OFF_LEVEL_Z``, ``ABOVE_Z``,
    ``ALLOYED_SHARE``, ``MASK_EDGE_A``, ``ADATOM_NEAR_A``, ``MODEL_TOLERANCE``, ``METAL_CANDIDATES``,
    ``unlisted_contents``, ``off_levels``, ``off_level_notes``, ``on_top_contents``,
    ``above_levels``, ``above_level_notes``.
``peaks``
    Finding non-periodic areas (defects) in a lattice image by its Fourier transform, and blobs
    Public: ``bragg_mask``, ``highpass_mask``, ``periodic_smooth``, ``lattice_basis``,
    ``lattice_periodic``, ``lattice_mask``, ``FFTLabels``, ``fft_labels``, ``remove_small``,
    ``blobs``.
``pipeline``
    Detect, classify and score the defects of a movie (notebooks 02 and 06).
    Public: ``MovieAnalysis``, ``detect_frames``, ``fft_detect_frames``,
    ``train_localizer_on_movie``, ``MovieAnalysisSettings``, ``analyze_movie``, ``cnn_reading``.
``registration``
    Drift between frames (phase correlation) and registered sums of neighbouring frames (px).
    Public: ``frame_shifts``, ``lattice_continuous_shifts``, ``averaged_frame``, ``registered_sum``,
    ``registered_sum_and_others``, ``registered_window``, ``scanned_rows``, ``check_frame``,
    ``frame_stack``.
``scan_glitches``
    Scan glitches in a movie: rows of a frame unlike the same rows of its neighbouring frames.
    Public: ``GlitchParams``, ``glitch_mask``, ``shifted_rows``, ``frame_areas``, ``glitch_note``.
``series``
    One area through time, or separate images? Consecutive frames compared by their non-periodic
    detail.
    Public: ``detail``, ``reliability``, ``frame_pairs``, ``is_series``, ``cut_note``,
    ``read_separately``, ``read_stack``.
``site_alloy``
    Metal sublattices of two elements in comparable numbers (Mo₁₋ₓWₓS₂): the metal columns read
    against the neighbouring chalcogen columns.
    Public: ``MetalAlloy``, ``fit_metal_alloy``, ``alloy_readings``.
``site_crosstalk``
    Neighbours on the honeycomb, and the crosstalk between them: the share of a neighbour's
    content change that a site's reading takes in.
    Public: ``CROSSTALK_PRIOR_SD``, ``CROSSTALK_MIN_NEIGHBOURS``, ``CROSSTALK_STRICT_NEIGHBOURS``,
    ``WEAK_CHANGE``, ``neighbour_offsets``, ``neighbour_sums``, ``remove_crosstalk``.
``site_decode``
    From site amplitudes to contents: gain calibration, cross-talk removal and the decoding of
    every site.
    Public: ``strong_changes``, ``gain_estimate``, ``calibrate_gain``.
``site_halo``
    Which halo width the gain calibration needs: tested on the empty metal columns of the reading
    itself.
    Public: ``empty_metal_names``, ``halo_bias``, ``choose_halo``.
``site_hops``
    Hop rates from every site read: pairs of neighbouring sites through the movie (notebook 07).
    Public: ``hop_rates_from_sites``, ``pooled_hop_rates``.
``site_levels``
    The levels the site readings are measured against: each frame's pristine level of each
    sublattice, and the host column of a partly substituted chalcogen sublattice (alloys,
    converted sheets) found on the ladder of levels; what one frame can tell apart
    (``class_separations``, also importable from ``sites``).
    Public: ``relative_readings``, ``Ladder``, ``fit_ladder``, ``ladder_prior``, ``apply_ladder``,
    ``class_separations``.
``site_measure``
    Reading the column amplitudes of every lattice site of a frame (least squares on the fitted
    lattice).
    Public: ``enumerate_sites``, ``measure_amplitudes``, ``measure_amplitude_sets``,
    ``metal_reference``, ``sublattice_reference``, ``central_crop``, ``local_displacements``, ``frame_origins``,
    ``plausible_width``, ``local_noise_scale``.
``site_noise``
    The noise of one site reading and the likelihood of a reading under each content, monotone
    beyond the extreme contents.
    Public: ``reading_noise``, ``reading_sd``, ``log_emission``.
``site_placement``
    Where the sites are placed when the chalcogen columns' content varies over the sheet: three
    first-order reflections that a change of content does not move, folded onto the two-reflection
    placement.
    Public: ``chalcogen_varies``, ``honeycomb_translates``, ``fold_onto``, ``placement_displacements``,
    ``invariant_displacements``.
``site_model``
    What a site can hold and the hidden Markov model of its content through time.
    Public: ``class_contents``, ``SiteParams``,
    ``transition_matrix``, ``fit_transitions``, ``first_frame_prior``, ``content_shares``,
    ``site_posteriors``.
``site_walks``
    A weak defect followed as it walks over its sublattice (movies).
    Public: ``ring_sites``, ``walk_transitions``, ``walker_on_centre``.
``sites``
    Every lattice site read: column contents of both sublattices through time, and the defects.
    Public: ``defects_of``, ``SiteReading``, ``read_sites``, ``defect_table``, ``site_table``.
``sublattices``
    Which sublattice holds the metal where the named dopants can reverse the two sublattices'
    brightness order (a converting sheet, a Mo/W alloy).
    Public: ``levels_straddle_metal``, ``metal_sublattice``, ``UNNAMED_SPREAD_FACTOR``,
    ``unnamed_substituent_note``.
``window_classifier``
    The classifier on the windows of a movie's detections: windows at the library's pixel size,
    BatchNorm adapted to the movie (AdaBN), the class read from the CAM near the window centre,
    positions refined by the CAM peak.
    Public: ``windows_at``, ``CentralClassifier``, ``adapt_batchnorm``, ``classify_detections``.
"""
__all__ = ['adatoms', 'areas', 'cache', 'column_model', 'column_reading', 'columns', 'dopant_levels', 'field_size', 'grains', 'hollow_sites', 'lattice', 'localizer', 'localizer_training', 'off_levels', 'peaks', 'pipeline', 'registration', 'scan_glitches', 'series', 'site_alloy', 'site_crosstalk', 'site_decode', 'site_halo', 'site_hops', 'site_levels', 'site_measure', 'site_model', 'site_noise', 'site_placement', 'site_walks', 'sites', 'sublattices', 'window_classifier']
