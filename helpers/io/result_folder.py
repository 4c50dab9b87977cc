"""The command's output folder: checked before any work, built aside, swapped in atomically.

Rules (``python -m helpers analyze ... --out DIR``):

* ``DIR`` is never the input file, a folder that holds the input, the working folder or a folder
  that holds it, with or without ``--overwrite``.
* An existing ``DIR`` is replaced only with ``--overwrite`` and only when it is a previous result
  of this command: a ``summary.json`` written by it and nothing but the files the command writes.
  Anything else (a user's folder, a file) is refused, so ``--overwrite`` can never delete data.
* The parent folder must exist and be writable; this is checked (by creating the working folder
  in it) before the input is analysed.
* The result is written into a hidden working folder beside ``DIR``. On success the old result is
  renamed aside, the new one renamed into place, and the old one removed, with SIGINT and SIGTERM
  held back for those steps: interrupted at any point, ``DIR`` holds either the complete old or
  the complete new result. An interrupted run removes its working folder; folders left by a run
  that was killed outright (SIGKILL, power cut) are cleaned up, or the old result restored, by the
  next run on the same ``DIR``.
* Folders and files get the user's umask permissions.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from helpers.core.validation import InputError

#: every file name the command writes into a result folder
RESULT_FILES = frozenset({"summary.json", "defects.csv", "sites.csv", "areas.csv", "adatoms.csv",
                          "overlay_first.png", "overlay_last.png", "counts_over_time.png"})


#: key and value that mark a ``summary.json`` as written by this command
MARKER_KEY, MARKER_VALUE = "written_by", "defectfinder analyze"


_TMP, _OLD = "df-tmp", "df-old"


def umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _summary_is_ours(path: Path) -> bool:
    try:
        s = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(s, dict):
        return False
    if s.get(MARKER_KEY) == MARKER_VALUE:
        return True
    # results written before the marker existed carry these keys
    return {"file", "frames", "pixel_size_A", "detections", "localizer"} <= set(s)


def previous_result_problem(path: Path) -> str | None:
    """None when ``path`` is a folder holding a previous result of this command only; otherwise
    what it is instead (one phrase).

    Parameters
    ----------
    path : Path
        An existing path given as the output folder.

    Returns
    -------
    str or None
    """
    if not path.is_dir():
        return "is not a folder"
    if not _summary_is_ours(path):
        return "is not a previous result of this command (no summary.json written by it)"
    foreign = sorted(p.name for p in path.iterdir() if p.name not in RESULT_FILES or not p.is_file())
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return f"holds files this command does not write ({shown})"
    return None


def check_not_input_or_cwd(out, inputs=()) -> Path:
    """``out`` as an absolute path, or :class:`InputError` when it is (or holds) the working folder
    or one of ``inputs``.

    Parameters
    ----------
    out : str or Path
        The output folder.
    inputs : iterable of str or Path
        The files to be read.

    Returns
    -------
    Path
    """
    out = Path(os.path.abspath(Path(out).expanduser()))
    real = out.resolve()
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise InputError(f"--out {out}: is {'the' if real == cwd else 'a folder holding the'} working "
                         "folder; results go into a folder of their own")
    for inp in inputs:
        r = Path(inp).expanduser().resolve()
        if real == r or real in r.parents:
            raise InputError(f"--out {out}: {'is' if real == r else 'holds'} the input {inp}; "
                             "choose another output folder")
    return out


def check_output_folder(out, inputs=(), overwrite: bool = False) -> Path:
    """The resolved output folder, or :class:`InputError` naming why it cannot be used.

    ``inputs``: the files that will be read (the output may not be or contain any of them).

    Parameters
    ----------
    out : str or Path
        The output folder.
    inputs : iterable of str or Path
        The files to be read.
    overwrite : bool
        Whether a previous result may be replaced.

    Returns
    -------
    Path
    """
    out = check_not_input_or_cwd(out, inputs)
    if out.is_symlink():
        raise InputError(f"--out {out}: is a symbolic link; name the folder itself")
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        problem = previous_result_problem(out)
        if problem is not None:
            raise InputError(f"--out {out}: exists and {problem}; it is never replaced, choose "
                             "another output folder")
        if not overwrite:
            raise InputError(f"--out {out}: holds a previous result; pass --overwrite to replace it "
                             "or choose another output folder")
    parent = out.parent
    if not parent.exists():
        raise InputError(f"--out {out}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: no permission to write in {parent}")
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(out: Path, kind: str):
    """Working (``df-tmp``) or set-aside (``df-old``) folders of runs on ``out`` whose process is
    gone, newest first."""
    found = []
    for p in out.parent.glob(f".{out.name}.{kind}-*"):
        try:
            pid = int(p.name[len(f".{out.name}.{kind}-"):].split("-")[0])
        except ValueError:
            continue
        if p.is_dir() and not _pid_alive(pid):
            found.append(p)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def recover_leftovers(out: Path) -> list[str]:
    """Clean up after runs on ``out`` that were killed outright; returns what was done.

    A set-aside old result whose replacement never arrived is renamed back to ``out``; working
    folders of dead runs are removed (they never hold a finished result).

    Parameters
    ----------
    out : Path
        The output folder.

    Returns
    -------
    list of str
        One line per action taken.
    """
    out = Path(out)
    notes = []
    for old in _leftovers(out, _OLD):
        if not out.exists() and previous_result_problem(old) is None:
            os.rename(old, out)
            notes.append(f"restored the previous result at {out} (a run killed while replacing it)")
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in _leftovers(out, _TMP):
        shutil.rmtree(tmp, ignore_errors=True)
        notes.append(f"removed {tmp.name}, the working folder of a run that was killed")
    return notes


class _HeldSignals:
    """Hold SIGINT and SIGTERM back while a few renames run (main thread only).

    Python runs signal handlers in the main thread whichever thread the signal reached, so the
    handlers are swapped for one that only records the signal; on leaving, the original handlers
    are put back and a recorded signal is handed to them (Ctrl-C then raises KeyboardInterrupt, the
    command's SIGTERM handler its exception, a default SIGTERM ends the process).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.active = threading.current_thread() is threading.main_thread()
        self.pending: list = []
        if self.active:
            self.saved = {s: signal.getsignal(s) for s in self.SIGNALS}
            for s in self.SIGNALS:
                signal.signal(s, lambda signum, frame: self.pending.append((signum, frame)))
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        for s, h in self.saved.items():
            signal.signal(s, h)
        if self.pending:
            signum, frame = self.pending[0]
            handler = self.saved[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signum)  # the default action: end the process
        return False


class ResultFolder:
    """Context manager: yields a working folder beside ``out``; on a clean exit its content
    replaces ``out`` atomically (see the module docstring), on an exception it is removed.

    ``out`` must have passed :func:`check_output_folder`; it is checked again at the swap.
    """

    def __init__(self, out, overwrite: bool = False):
        self.out = Path(out)
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self.notes: list[str] = []

    def __enter__(self) -> Path:
        self.notes = recover_leftovers(self.out)
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.{_TMP}-{os.getpid()}-",
                                             dir=self.out.parent))
        except OSError as e:
            raise InputError(f"--out {self.out}: cannot create a folder in {self.out.parent} "
                             f"({e.strerror or e})") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.tmp is not None and self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def _commit(self) -> None:
        mask = umask()
        os.chmod(self.tmp, 0o777 & ~mask)
        for p in self.tmp.iterdir():
            os.chmod(p, 0o666 & ~mask)
        out = self.out
        old = None
        with _HeldSignals():
            if out.exists() or out.is_symlink():
                problem = previous_result_problem(out)
                if problem is not None or not self.overwrite:
                    raise InputError(f"--out {out}: appeared while the analysis ran and "
                                     f"{problem or 'holds a result'}; nothing was replaced")
                old = out.parent / f".{out.name}.{_OLD}-{os.getpid()}-{os.urandom(4).hex()}"
                os.rename(out, old)
            try:
                os.rename(self.tmp, out)
            except OSError:
                if old is not None:
                    os.rename(old, out)  # put the old result back
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
