"""The synthetic movie on disk: the :class:`Movie` record, its HDF5 file and the cached standard movie."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.core.atomic import atomic_output
from helpers.synthetic.params import (
    MOVIE_CLASSES,
    KineticsParams,
    MovieParams,
)


@dataclass
class Movie:
    """A movie, its ground truth and its parameters."""

    frames: np.ndarray  # (n_frames, H, W) float32, detector counts
    truth: pd.DataFrame  # one row per frame and defect (in the sample region)
    events: pd.DataFrame  # births, deaths, class changes and hops
    params: MovieParams
    orientation_deg: float
    drift_A: np.ndarray  # (n_frames, 2)
    content_hash: str
    generation_s: float = 0.0
    population: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def pixel_size_A(self) -> float:
        """Pixel size of the frames (Å/px)."""
        return self.params.pixel_size_A

    def visible_truth(self, frame: int | None = None) -> pd.DataFrame:
        """The true defects inside the field of view (of one frame, or of all).

        Parameters
        ----------
        frame : int, optional
            From 0 (all frames when None).

        Returns
        -------
        DataFrame
            frame, defect_id, class, sublattice, site_i, site_j, x/y in px and Å, in_view.
        """
        t = self.truth[self.truth["in_view"]]
        return t if frame is None else t[t["frame"] == frame]

    def true_parameters(self) -> dict:
        """The kinetics the movie was generated with, to compare fitted rates against."""
        k = self.params.kinetics
        return {"classes": list(MOVIE_CLASSES), "transitions": [list(r) for r in k.transitions],
                "hop_prob": list(k.hop_prob), "death_prob": list(k.death_prob),
                "birth_per_nm2": k.birth_per_nm2, "birth_growth_per_1e6": k.birth_growth_per_1e6,
                "birth_fractions": list(k.birth_fractions),
                "dose_e_per_A2_per_frame": self.params.dose_e_per_A2}


def same_defects(a: "Movie", b: "Movie", frame: int = 0) -> bool:
    """Whether two movies show the same defects (ids, classes, positions) in a frame.

    Parameters
    ----------
    a, b : Movie
    frame : int
        The frame compared (from 0).

    Returns
    -------
    bool
    """
    cols = ["defect_id", "class", "x_px", "y_px"]
    ta = a.visible_truth(frame)[cols].reset_index(drop=True)
    tb = b.visible_truth(frame)[cols].reset_index(drop=True)
    return bool(ta.equals(tb))


def movie_path(params: MovieParams) -> Path:
    """Where :func:`standard_movie` caches a movie of these parameters (git-ignored).

    Parameters
    ----------
    params : MovieParams

    Returns
    -------
    Path
        ``data/generated/movies/movie_<content hash>.h5``.
    """
    return config.GENERATED_DIR / "movies" / f"movie_{params.content_hash()}.h5"


def save_movie(movie: Movie, path: Path, overwrite: bool = False) -> Path:
    """Write frames, truth, events and parameters to HDF5 atomically.

    Parameters
    ----------
    movie : Movie
    path : Path
        The HDF5 file.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    import h5py

    with atomic_output(path, overwrite, ".h5.part") as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("frames", data=movie.frames, chunks=(1,) + movie.frames.shape[1:])
        f.create_dataset("drift_A", data=movie.drift_A)
        f.create_dataset("population", data=movie.population)
        for group, df in (("truth", movie.truth), ("events", movie.events)):
            g = f.create_group(group)
            for col in df.columns:
                v = df[col].to_numpy()
                g.create_dataset(col, data=v.astype("S") if v.dtype == object else v)
        f.attrs["params"] = movie.params.to_json()
        f.attrs["content_hash"] = movie.content_hash
        f.attrs["orientation_deg"] = movie.orientation_deg
        f.attrs["generation_s"] = movie.generation_s
        f.attrs["pixel_size_A"] = movie.params.pixel_size_A
        f.attrs["classes"] = json.dumps(list(MOVIE_CLASSES))
        f.attrs["true_parameters"] = json.dumps(movie.true_parameters())
    return Path(path)


def _params_from_json(text: str) -> MovieParams:
    d = json.loads(text)
    kin = d.pop("kinetics")
    kin = KineticsParams(**{k: (tuple(tuple(r) for r in v) if k == "transitions" else
                                tuple(v) if isinstance(v, list) else v) for k, v in kin.items()})
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return MovieParams(**d, kinetics=kin)


def load_movie(path: Path) -> Movie:
    """Read a movie written by :func:`save_movie`.

    Parameters
    ----------
    path : Path

    Returns
    -------
    Movie
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"movie file {path} not found")
    with h5py.File(path, "r") as f:
        if "frames" not in f or "truth" not in f:
            raise ValueError(f"{path} is not a DefectFinder movie (frames/truth missing)")
        frames = f["frames"][()]
        tables = {}
        for group in ("truth", "events"):
            cols = {}
            for col in f[group]:
                v = f[group][col][()]
                cols[col] = v.astype(str) if v.dtype.kind == "S" else v
            tables[group] = pd.DataFrame(cols)
        params = _params_from_json(f.attrs["params"])
        movie = Movie(frames=frames, truth=tables["truth"], events=tables["events"], params=params,
                      orientation_deg=float(f.attrs["orientation_deg"]), drift_A=f["drift_A"][()],
                      content_hash=str(f.attrs["content_hash"]),
                      generation_s=float(f.attrs["generation_s"]), population=f["population"][()])
    truth_cols = ["frame", "defect_id", "class", "sublattice", "site_i", "site_j", "x_px", "y_px",
                  "x_A", "y_A", "in_view"]
    movie.truth = movie.truth[truth_cols]
    movie.events = movie.events[["frame", "defect_id", "event", "from_class", "to_class"]]
    return movie
