"""Length units of file metadata (to Å) and the one-line error that names a file and its problem."""
from __future__ import annotations

from helpers.core.validation import InputError

#: length units → Å
UNIT_TO_A = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "pm": 0.01,
             "um": 1e4, "µm": 1e4, "μm": 1e4, "micron": 1e4, "m": 1e10, "mm": 1e7}


def _unit_to_A(unit, path) -> float | None:
    if unit is None:
        return None
    u = str(unit).strip().lower().replace("\\u00b5", "µ")
    if u in UNIT_TO_A:
        return UNIT_TO_A[u]
    return None


def _fail(path, problem: str):
    raise InputError(f"{path}: {problem}")


def _pixel_size_from_axes(axes) -> float | None:
    sig_axes = [a for a in axes if not a.get("navigate", False)][-2:]
    for a in sig_axes:
        factor = _unit_to_A(a.get("units"), None)
        if factor and a.get("scale"):
            return float(a["scale"]) * factor
    return None
