"""Linking, track scoring and kinetics estimators on synthetic inputs with known answers."""
import numpy as np
import pandas as pd
import pytest

from helpers.evaluation import tracks as track_scores
from helpers.kinetics import rates
from helpers.kinetics import tracking as tk


def _synthetic():
    """Four defects over 10 frames with known identities: A and B cross paths (they pass 2 Å
    apart), C is missed in frame 4 and dies after frame 6, D is born in frame 3."""
    rows = []
    for f in range(10):
        rows.append((f, "A", 10.0 + 0.6 * f, 10.0))
        rows.append((f, "B", 15.4 - 0.6 * f, 12.0))
        if f <= 6 and f != 4:
            rows.append((f, "C", 30.0, 30.0 + 0.1 * f))
        if f >= 3:
            rows.append((f, "D", 50.0, 5.0))
    t = pd.DataFrame(rows, columns=["frame", "who", "x_A", "y_A"])
    t["class"] = "Vw"
    t["id"] = t.groupby("frame").cumcount()
    return t


def test_link_recovers_known_identities():
    t = _synthetic()
    tracks = tk.link(t, search_range_A=1.5, memory=2, drift_correct=False)
    assert tracks["track"].nunique() == 4
    for who, g in tracks.groupby("who"):
        assert g["track"].nunique() == 1, f"{who} was split: {g['track'].unique()}"
    # each track holds one defect only
    assert (tracks.groupby("track")["who"].nunique() == 1).all()


def test_link_without_memory_splits_the_missed_defect():
    tracks = tk.link(_synthetic(), search_range_A=1.5, memory=0, drift_correct=False)
    assert tracks[tracks.who == "C"]["track"].nunique() == 2


def test_score_tracks_counts_switches_and_fragments():
    t = _synthetic()
    tracks = tk.link(t, search_range_A=1.5, memory=2, drift_correct=False)
    matches = t.rename(columns={"who": "defect_id"})[["frame", "defect_id", "id"]].copy()
    matches["defect_id"] = matches["defect_id"].map({"A": 0, "B": 1, "C": 2, "D": 3})
    s = track_scores.score_tracks(matches, tracks)
    assert s["track_identity_recovery"] == 1.0 and s["id_switches"] == 0
    broken = tracks.copy()
    broken.loc[(broken.who == "A") & (broken.frame >= 5), "track"] = 99
    s2 = track_scores.score_tracks(matches, broken)
    assert s2["id_switches"] == 1 and s2["fragmented_defects"] == 1
    assert s2["track_identity_recovery"] == pytest.approx(1 - 5 / len(matches))


def test_transition_matrix_recovers_a_known_matrix():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    T = np.array([[0.9, 0.1, 0.0], [0.05, 0.95, 0.0], [0.0, 0.0, 1.0]])
    seqs = []
    for _ in range(200):
        s = [rng.integers(2)]
        for _ in range(99):
            s.append(rng.choice(3, p=T[s[-1]]))
        seqs.append((np.arange(100), [classes[i] for i in s]))
    n = rates.transition_counts(seqs, classes)
    est = rates.transition_matrix(n)
    for i in range(2):
        se = np.sqrt(T[i] * (1 - T[i]) / n[i].sum())
        assert np.all(np.abs(est[i] - T[i]) <= 4 * se + 1e-12)
    assert np.all(np.isnan(est[2]))  # 'c' never occurs: NaN, not a division by zero


def test_transitions_need_consecutive_frames_and_known_classes():
    n = rates.transition_counts([(np.array([0, 1, 3, 4]), ["a", "b", "b", "unknown"])], ["a", "b"])
    assert n.tolist() == [[0, 1], [0, 0]]


def test_hop_rates_and_msd():
    rows = [(f, 0, 10.0 + (3.2 if f >= 5 else 0.0), 0.0, "Vw") for f in range(10)]
    rows += [(f, 1, 40.0, 0.1 * f, "Mo") for f in range(10)]
    t = pd.DataFrame(rows, columns=["frame", "track", "x_corr_A", "y_corr_A", "class"])
    h = rates.hop_rates(t, ["Vw", "Mo", "Sw"])
    assert h["Vw"] == pytest.approx(1 / 9) and h["Mo"] == 0 and np.isnan(h["Sw"])
    assert rates.hop_counts(t, ["Vw", "Mo", "Sw"]) == {"Vw": (1, 9), "Mo": (0, 9), "Sw": (0, 0)}
    msd = rates.msd_by_class(t, max_lag=3)
    mo = msd[msd["class"] == "Mo"].set_index("lag")["msd_A2"]
    assert np.allclose(mo.to_numpy(), [0.01, 0.04, 0.09])


def test_bad_tables_give_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        tk.link(pd.DataFrame(columns=["frame", "x_A", "y_A", "class"]))
    with pytest.raises(ValueError, match="missing column"):
        tk.link(pd.DataFrame({"frame": [0], "x_A": [1.0]}))
    with pytest.raises(ValueError, match="NaN"):
        tk.link(pd.DataFrame({"frame": [0], "x_A": [np.nan], "y_A": [1.0], "class": ["Mo"]}))
    single = tk.link(pd.DataFrame({"frame": [0, 0], "x_A": [1.0, 9.0], "y_A": [1.0, 1.0],
                                   "class": ["Mo", "Vw"]}))
    assert single["track"].nunique() == 2  # a single frame: every detection its own track


def test_counts_over_time_fills_missing_frames_and_classes():
    t = pd.DataFrame({"frame": [0, 0, 2], "class": ["Mo", "Vw", "Mo"]})
    c = tk.counts_over_time(t, ["Mo", "Vw", "Sw"], 3)
    assert c.shape == (3, 3) and c.loc[1].sum() == 0 and c.loc[2, "Mo"] == 1 and c["Sw"].sum() == 0


def test_hop_rates_smoothing_keeps_a_hop_whose_frame_is_misread():
    cls = ["Vw"] * 5 + ["Mo"] + ["Vw"] * 4  # the hop frame (5) misread as Mo
    t = pd.DataFrame({"frame": range(10), "track": 0, "class": cls, "y_corr_A": 0.0,
                      "x_corr_A": [0.0] * 5 + [3.2] * 5})
    assert rates.hop_rates(t, ["Vw", "Mo"])["Vw"] == 0  # the hop step changes class: not counted
    assert rates.hop_rates(t, ["Vw", "Mo"], smooth=3)["Vw"] == pytest.approx(1 / 9)


def test_close_overlaps_joins_a_hop_seen_at_both_sites_and_nothing_else():
    """A defect hops 3.2 Å at frame 10; a detector on ±2-frame sums sees it at the old site until
    frame 11 and at the new one from frame 8. A neighbour 3 Å away that lives alongside for 20
    frames, and a defect far away, must stay apart."""
    rows = []
    for f in range(0, 12):
        rows.append((f, 10.0, 10.0, "Vw"))  # old site, seen until frame 11
    for f in range(8, 30):
        rows.append((f, 13.2, 10.0, "Vw"))  # new site, seen from frame 8
    for f in range(0, 30):
        rows.append((f, 10.0, 13.0, "Mo"))  # a neighbour all along
        rows.append((f, 40.0, 40.0, "Sw"))  # far away
    table = pd.DataFrame(rows, columns=["frame", "x_A", "y_A", "class"])
    table["id"] = table.groupby("frame").cumcount()
    plain = tk.link(table, search_range_A=3.6, memory=3, drift_correct=False)
    joined = tk.link(table, search_range_A=3.6, memory=3, drift_correct=False, overlap_frames=4)
    hopper = joined[(joined["class"] == "Vw")]
    main = hopper.groupby("track").size().idxmax()
    tr = hopper[hopper.track == main].sort_values("frame")
    assert tr["frame"].tolist() == list(range(0, 30))  # one track, one position per frame
    assert (tr[tr.frame < 10].x_A == 10.0).all() and (tr[tr.frame >= 10].x_A == 13.2).all()
    assert rates.hop_rates(joined, ["Vw"])["Vw"] == pytest.approx(1 / 29)
    # without joining, the hop is lost (each site has its own track)
    assert rates.hop_rates(plain, ["Vw"])["Vw"] == 0
    for cls in ("Mo", "Sw"):
        assert joined[joined["class"] == cls]["track"].nunique() == 1
        assert set(joined[joined["class"] == cls]["track"]).isdisjoint(set(hopper["track"]))


def test_join_distance_reaches_a_hop_whose_detections_lie_beyond_the_search_range():
    """The last old-site and first new-site detections of a hop lie 3.8 Å apart (3.2 Å step plus
    position errors): search range 3.6 Å alone leaves two tracks, a 4.0 Å join makes one."""
    rows = [(f, 10.0, 10.0) for f in range(0, 12)] + [(f, 13.8, 10.0) for f in range(8, 30)]
    table = pd.DataFrame(rows, columns=["frame", "x_A", "y_A"]).assign(**{"class": "Vw"})
    table["id"] = table.groupby("frame").cumcount()
    kw = dict(search_range_A=3.6, memory=3, drift_correct=False, overlap_frames=4)
    assert tk.link(table, **kw)["track"].nunique() == 2
    joined = tk.link(table, join_distance_A=4.0, **kw)
    assert joined["track"].nunique() == 1 and joined["frame"].tolist() == list(range(30))
    assert rates.hop_counts(joined, ["Vw"])["Vw"] == (1, 29)
    with pytest.raises(ValueError, match="join_distance_A"):
        tk.link(table, join_distance_A=0.0, **kw)


def test_hop_counts_across_a_detection_gap_with_misread_frames_around_the_hop():
    """A Vw hops 3.2 Å between frames 29 and 30; the detector misses frames 29-30 (both sites
    half-filled) and the averaged classes read Sw / Mo within 4 frames of the hop. Gap-aware steps
    and the hop zone recover the one hop over 59 frames; the defaults find none."""
    f = np.array([k for k in range(60) if k not in (29, 30)])
    cls = np.where(np.abs(f - 29.5) <= 4, np.where(f < 29.5, "Mo", "Sw"), "Vw").astype(object)
    t = pd.DataFrame({"frame": f, "track": 0, "class": cls, "y_corr_A": 0.0,
                      "x_corr_A": np.where(f < 29.5, 0.0, 3.2)})
    assert rates.hop_counts(t, ["Vw", "Mo", "Sw"])["Vw"][0] == 0
    assert rates.hop_counts(t, ["Vw", "Mo", "Sw"], max_gap=4)["Vw"][0] == 0  # classes differ at the hop
    counts = rates.hop_counts(t, ["Vw", "Mo", "Sw"], max_gap=4, hop_zone=4, hop_context=6)
    assert counts == {"Vw": (1, 59), "Mo": (0, 0), "Sw": (0, 0)}
    assert rates.hop_rates(t, ["Vw"], max_gap=4, hop_zone=4)["Vw"] == pytest.approx(1 / 59)
    # a gap longer than max_gap is not a step: no hop, no relabelling, and its frames are no
    # exposure (Vw steps 0-25 and 34-59 only)
    assert rates.hop_counts(t, ["Vw"], max_gap=2, hop_zone=4)["Vw"] == (0, 50)
    with pytest.raises(ValueError, match="max_gap"):
        rates.hop_counts(t, ["Vw"], max_gap=0)


def test_hop_rate_errors_against_true_tracks():
    f = np.arange(20)
    true = pd.DataFrame({"frame": f, "track": 0, "class": "Vw", "y_corr_A": 0.0,
                         "x_corr_A": np.where(f < 10, 0.0, 3.2)})
    rec = true[true.frame != 10]  # the hop frame missed: the step 9 -> 11 spans it
    assert rates.hop_rate_errors(true, true, ["Vw", "Mo"]) == {"Vw": 0.0}  # Mo never hops: left out
    assert rates.hop_rate_errors(rec, true, ["Vw"]) == {"Vw": 1.0}  # consecutive steps only: hop lost
    assert rates.hop_rate_errors(rec, true, ["Vw"], max_gap=2) == {"Vw": 0.0}


def test_a_hop_next_to_a_class_change_is_shared_between_the_two_classes():
    """A Vw hops 3.2 Å between frames 29 and 30 and turns into Sw two frames later: the frames
    around the hop are misread (Mo), the track reads Vw before and Sw after. Pooled context gives
    the hop to the side with more frames; share_disputed gives half to each, and each side's zone
    frames to its own class."""
    f = np.arange(60)
    cls = np.where(f < 26, "Vw", np.where(f < 34, "Mo", "Sw")).astype(object)
    t = pd.DataFrame({"frame": f, "track": 0, "class": cls, "y_corr_A": 0.0,
                      "x_corr_A": np.where(f < 29.5, 0.0, 3.2)})
    kw = dict(max_gap=4, hop_zone=4, hop_context=6)
    pooled = rates.hop_counts(t, ["Vw", "Mo", "Sw"], **kw)
    assert pooled["Vw"][0] + pooled["Sw"][0] == 1 and pooled["Mo"] == (0, 0)
    shared = rates.hop_counts(t, ["Vw", "Mo", "Sw"], share_disputed=True, **kw)
    # steps 0..28 Vw (29 frames) + half the hop step; steps 30..58 Sw (29 frames) + the other half
    assert shared == {"Vw": (0.5, 29.5), "Mo": (0, 0), "Sw": (0.5, 29.5)}
    # sides that agree: the whole hop to their class, as without sharing
    same = t.assign(**{"class": np.where((f >= 26) & (f < 34), "Mo", "Vw").astype(object)})
    assert rates.hop_counts(same, ["Vw", "Mo"], share_disputed=True, **kw) == rates.hop_counts(same, ["Vw", "Mo"], **kw)
    assert rates.hop_counts(same, ["Vw", "Mo"], share_disputed=True, **kw)["Vw"] == (1, 59)


def test_pooled_hop_rates_sum_hops_and_frames_over_movies():
    """One hop in 10 frames on one movie, three in 10 on another: pooled 4 in 20 frames."""
    def hopper(n_hops):
        x = np.repeat(np.arange(n_hops + 1) * 3.2, [11 - n_hops] + [1] * n_hops)[:11]
        t = pd.DataFrame({"frame": np.arange(11), "x_corr_A": x, "y_corr_A": 0.0, "class": "Vw", "track": 0})
        return t
    a, b = hopper(1), hopper(3)
    assert rates.hop_counts(a, ["Vw"])["Vw"] == (1, 10) and rates.hop_counts(b, ["Vw"])["Vw"] == (3, 10)
    recovered_b = b.assign(x_corr_A=np.where(b.frame >= 9, 3 * 3.2, b.x_corr_A))  # one hop missed
    pooled = rates.pooled_hop_rates([(a, a), (recovered_b, b)], ["Vw", "Sw"])
    assert pooled.loc["Vw", "true hops"] == 4 and pooled.loc["Vw", "true rate"] == pytest.approx(0.2)
    assert pooled.loc["Vw", "recovered hops"] == 3
    assert pooled.loc["Vw", "rel error"] == pytest.approx(0.25)
    assert pooled.loc["Vw", "counting error 1/√N"] == pytest.approx(0.5)
    assert np.isnan(pooled.loc["Sw", "true rate"]) and np.isnan(pooled.loc["Sw", "rel error"])
    with pytest.raises(ValueError, match="no movies"):
        rates.pooled_hop_rates([], ["Vw"])


def test_link_movie_uses_the_movie_settings_and_checks_its_window():
    rows = [(f, 10.0, 10.0) for f in range(0, 12)] + [(f, 13.8, 10.0) for f in range(8, 30)]
    table = pd.DataFrame(rows, columns=["frame", "x_A", "y_A"]).assign(**{"class": "Vw"})
    table["id"] = table.groupby("frame").cumcount()
    tracks = tk.link_movie(table, sum_half_window=2)
    same = tk.link(table, search_range_A=tk.MOVIE_SEARCH_RANGE_A, memory=tk.MOVIE_MEMORY_FRAMES,
                   overlap_frames=4, join_distance_A=tk.MOVIE_JOIN_DISTANCE_A)
    pd.testing.assert_frame_equal(tracks, same)
    assert tracks["track"].nunique() == 1
    with pytest.raises(ValueError, match="sum_half_window"):
        tk.link_movie(table, sum_half_window=-1)


def test_link_true_positions_follows_each_defect_through_its_hops():
    """Two true defects, one hopping one site (3.2 Å) at frame 5: one track each, ids per frame."""
    rows = [(f, 0, 10.0 if f < 5 else 13.2, 10.0) for f in range(10)] + [(f, 1, 40.0, 40.0) for f in range(10)]
    truth = pd.DataFrame(rows, columns=["frame", "defect_id", "x_A", "y_A"]).assign(**{"class": "Vw"})
    tracks = tk.link_true_positions(truth)
    assert (tracks.groupby("defect_id")["track"].nunique() == 1).all()
    assert tracks["track"].nunique() == 2
    assert rates.hop_counts(tracks, ["Vw"])["Vw"] == (1, 18)
    with pytest.raises(ValueError, match="defect_id"):
        tk.link_true_positions(truth.drop(columns="defect_id"))
