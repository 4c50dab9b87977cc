"""Defects (and adatoms) through time (notebook 07): tracks, hops, class-to-class transitions, mean squared
displacements and counts over time.

Modules
-------
``adatom_tracks``
    Adatoms through a movie: tracks, and moves between hollow sites.
    Public: ``ADATOM_SEARCH_FACTOR``, ``ADATOM_MEMORY_FRAMES``, ``link_adatoms``, ``adatom_moves``,
    ``track_adatoms``.
``rates``
    Kinetics from tracks (notebook 07): class-to-class transitions, hop counts and rates, mean
    Public: ``smooth_classes``, ``transition_counts``, ``transition_matrix``,
    ``track_sequences``, ``truth_sequences``, ``hop_counts``, ``hop_rates``,
    ``hop_rate_errors``, ``pooled_hop_rates``, ``msd_by_class``, ``diffusion_coefficients``.
``tracking``
    Defects through time: linking detections into tracks (trackpy) and counts over time
    Public: ``check_table``, ``link``, ``link_movie``, ``renumber_tracks``,
    ``link_true_positions``, ``close_overlaps``, ``counts_over_time``.
"""
__all__ = ['adatom_tracks', 'rates', 'tracking']
