"""Safe file output: write to a temporary name, then move into place; never overwrite silently."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path, overwrite: bool = False, suffix: str = ".part"):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (mode 644).

    Raises FileExistsError when ``path`` exists and ``overwrite`` is false, so nothing already
    written is lost; an interrupted write leaves no half-written file behind.

    Parameters
    ----------
    path : str or Path
        The file to write.
    overwrite : bool
        Replace an existing ``path``.
    suffix : str
        Suffix of the temporary file.

    Yields
    ------
    Path
        The temporary path to write to.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
