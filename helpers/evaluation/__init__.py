"""Every score against a truth (notebooks 02-07): point matching, classifier confusion matrices,
detection, classification and track scores, and the robustness over movie variants.

Modules
-------
``classes``
    Confusion matrices and per-class scores of a classifier.
    Public: ``confusion_matrix``, ``per_class_report``, ``accuracy``.
``defects``
    Reported defects against a movie's truth: the read area, detection, class and position
    scores, and recall by how long each defect stays; one frame's defects against the contents
    planted in it.
    Public: ``planted_scores``, ``in_read_area``, ``score_defects``, ``defect_episodes``,
    ``recall_by_lifetime``, ``class_accuracy_by_origin``.
``matching``
    Matching found points to true points within a tolerance (Å), one to one.
    Public: ``Match``, ``match_points``, ``points_by_frame``, ``match_table``.
``robustness``
    Scores of the analysis over movie variants (seed, pixel size, dose, probe, lattice
    constant).
    Public: ``site_reading_variants``, ``score_site_reading``, ``robustness_table``.
``scores``
    Detection and classification scores of a movie analysis against the movie's truth.
    Public: ``score_detections``, ``overall``, ``column_window_scores``,
    ``classification_scores``, ``detection_hits``, ``detection_f1_bound``.
``tracks``
    Scores of tracks against the true identities: defects, and adatoms that hop.
    Public: ``score_tracks``, ``score_adatom_tracks``.
"""
__all__ = ['classes', 'defects', 'matching', 'robustness', 'scores', 'tracks']
