"""Batches of files on Dask distributed, resumable: one result folder per file and ``batch.json``."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from helpers import config
from helpers.analyze import (
    AnalysisSettings,
    analyze_file,
)
from helpers.core.atomic import atomic_output
from helpers.core.validation import InputError
from helpers.io.readers import SUFFIXES
from helpers.io.result_folder import (
    check_not_input_or_cwd,
    check_output_folder,
    previous_result_problem,
)

BATCH_FILE = "batch.json"


BATCH_MARKER = "defectfinder batch"


def expand_inputs(paths) -> list[Path]:
    """Files to analyze: the given files, and the readable files (by suffix) directly in the given
    folders, sorted. A missing path is an error.

    Parameters
    ----------
    paths : iterable of str or Path
        Files and folders.

    Returns
    -------
    list of Path
    """
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{p}: file not found")
    seen, unique = set(), []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    if not unique:
        raise InputError(f"no readable files in {', '.join(map(str, paths))} "
                         f"(readable: {', '.join(sorted(set(SUFFIXES)))})")
    return unique


def result_names(files) -> list[str]:
    """One result folder name per file: ``stem_suffix``, numbered where two files share it.

    Parameters
    ----------
    files : list of Path
        The batch's files.

    Returns
    -------
    list of str
        Folder names, in the order of ``files``.
    """
    names, used = [], {}
    for f in files:
        base = f"{f.stem}_{f.suffix.lstrip('.').lower()}" if f.suffix else f.name
        k = used.get(base, 0)
        used[base] = k + 1
        names.append(base if k == 0 else f"{base}_{k + 1}")
    return names


def _check_batch_folder(out: Path, files) -> Path:

    out = Path(os.path.abspath(Path(out).expanduser()))
    if out.exists():
        try:
            marker = json.loads((out / BATCH_FILE).read_text()).get("written_by")
        except (OSError, ValueError, AttributeError):
            marker = None
        if marker != BATCH_MARKER:
            raise InputError(f"--out {out}: exists and is not a batch folder of this command (no "
                             f"{BATCH_FILE} written by it); choose another output folder")
        # the batch folder itself is reused (resumed); the per-file folders are checked one by one
        check_not_input_or_cwd(out, files)
        return out
    check_output_folder(out, files)
    return out


def _batch_task(path: str, out: str, settings: AnalysisSettings, overwrite: bool) -> dict:
    """Analyze one file of a batch (runs on a Dask worker); never raises for a file's problem."""
    t0 = time.perf_counter()
    lines = []
    try:
        s = analyze_file(path, out, settings, overwrite=overwrite, log=lines.append)
        return {"file": path, "status": "done", "result": out, "detections": s["detections"],
                "frames": s["frames"], "seconds": round(time.perf_counter() - t0, 2),
                "warnings": [w.removeprefix("warning: ") for w in lines]}
    except InputError as e:
        return {"file": path, "status": "failed", "reason": str(e),
                "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as e:  # an unexpected failure of one file must not stop the batch
        return {"file": path, "status": "failed", "reason": f"{type(e).__name__}: {e}".splitlines()[0],
                "seconds": round(time.perf_counter() - t0, 2)}


def _write_batch(out: Path, record: dict) -> None:

    with atomic_output(out / BATCH_FILE, overwrite=True, suffix=".part") as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str))


def run_batch(paths, out, settings: AnalysisSettings | None = None, overwrite: bool = False,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              log=None) -> dict:
    """Analyze several files on Dask distributed, one result folder per file under ``out``.

    Parameters
    ----------
    paths : files and/or folders (their readable files, not recursive).
    out : batch folder: new, or one written by an earlier run of the same batch (resumed).
    settings : :class:`AnalysisSettings` for every file.
    overwrite : analyze again the files already done (their results are replaced atomically).
    workers : processes of the local cluster (default: CPU cores, at most the number of files).
    scheduler : address of an existing Dask scheduler; its workers need this package.

    Returns the batch record written to ``out/batch.json``: per file ``done`` (with its result
    folder), ``failed`` (with the one-line reason) or ``skipped`` (done by an earlier run).
    """

    settings = (settings or AnalysisSettings()).check()
    task_settings = AnalysisSettings(**{**asdict(settings), "quiet": True})  # one bar: the batch's
    log = log or (lambda line: print(line, file=sys.stderr))
    files = expand_inputs(paths)
    out = _check_batch_folder(out, files)
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    out.mkdir(exist_ok=True)
    names = result_names(files)
    record = {"written_by": BATCH_MARKER, "settings": asdict(settings), "files": {}}
    todo = []
    for f, name in zip(files, names):
        folder = out / name
        done_before = folder.exists() and previous_result_problem(folder) is None and \
            _same_file(folder, f)
        if done_before and not overwrite:
            record["files"][name] = {"file": str(f), "status": "skipped", "result": str(folder),
                                     "reason": "already done (rerun with --overwrite to redo it)"}
        else:
            todo.append((f, name))
    _write_batch(out, _counted(record))
    if todo:
        from distributed import Client, LocalCluster, as_completed


        config.quiet_tensorflow()
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            n = workers or min(len(todo), os.cpu_count() or 1)
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            client = Client(cluster)
        try:
            futures = {client.submit(_batch_task, str(f), str(out / name), task_settings, overwrite,
                                     key=f"analyze-{name}-{os.getpid()}", pure=False): name
                       for f, name in todo}
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc="files", unit="file", disable=not progress)
            for fut in as_completed(futures):
                name = futures[fut]
                try:
                    r = fut.result()
                except Exception as e:  # a worker died
                    r = {"file": None, "status": "failed", "reason": f"worker lost: {type(e).__name__}: {e}"}
                record["files"][name] = r
                if r["status"] == "failed":
                    log(f"failed: {r['reason']}")
                _write_batch(out, _counted(record))
                bar.update(1)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    record["files"] = {n: record["files"][n] for n in names if n in record["files"]}
    _write_batch(out, _counted(record))
    return record


def _same_file(folder: Path, f: Path) -> bool:
    try:
        s = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return Path(s.get("file", "")).resolve() == f.resolve()


def _counted(record: dict) -> dict:
    statuses = [r["status"] for r in record["files"].values()]
    record.update({k: statuses.count(k) for k in ("done", "failed", "skipped")})
    return record
