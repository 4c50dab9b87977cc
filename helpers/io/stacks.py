"""Frame stacks read lazily: a (n, H, W) float32 view of a file's frames, read and checked frame by frame (NumPy memory maps, uncompressed TIFF, HDF5 datasets)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.io.units import _fail


class FrameStack:
    """A movie's frames as a float32 (n, H, W) stack read one frame at a time from its file (a
    memory map or an open dataset) or held in memory: memory stays one frame per access, whatever
    the movie's length.

    ``stack[t]`` is frame t (float32, checked: a NaN or infinite value is an :class:`InputError`
    naming the frame); ``stack[a:b]`` a stack of those frames; ``np.asarray(stack)`` all of them.
    """

    def __init__(self, source, path, index=None, close=None):
        shape = tuple(np.shape(source))
        self._src, self.path, self._close = source, Path(path), close
        self._two_d = len(shape) == 2
        n = 1 if self._two_d else shape[0]
        self._index = np.arange(n) if index is None else np.asarray(index, int)
        self.frame_shape = tuple(int(s) for s in shape[-2:])
        self.in_memory = isinstance(source, np.ndarray) and not isinstance(source, np.memmap)

    ndim = 3
    dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple:
        """(frames, height, width) px."""
        return (len(self._index),) + self.frame_shape

    def __len__(self) -> int:
        return len(self._index)

    def _frame(self, t: int) -> np.ndarray:
        k = int(self._index[t])
        try:
            raw = self._src if self._two_d else self._src[k]
            out = np.asarray(raw, np.float32)
        except Exception as e:  # a damaged block of the file
            _fail(self.path, f"frame {k + 1} cannot be read ({type(e).__name__}: {e})")
        if out.shape != self.frame_shape:
            _fail(self.path, f"frame {k + 1} has shape {out.shape}, the others {self.frame_shape}")
        if not self.in_memory and not np.isfinite(out).all():
            _fail(self.path, f"{int((~np.isfinite(out)).sum())} NaN or infinite values in frame {k + 1}")
        return out

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self[key[0]][key[1:]] if key else np.asarray(self)
        if isinstance(key, slice):
            return FrameStack(self._src, self.path, self._index[key], self._close)
        if isinstance(key, (int, np.integer)):
            t = int(key)
            if not -len(self) <= t < len(self):
                raise IndexError(f"frame {t} of a stack of {len(self)}")
            return self._frame(t % len(self))
        return np.stack([self._frame(int(t)) for t in np.arange(len(self))[key]])

    def __iter__(self):
        return (self._frame(t) for t in range(len(self)))

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, np.float32)
        for t in range(len(self)):
            out[t] = self._frame(t)
        return out if dtype is None else out.astype(dtype)

    def close(self) -> None:
        """Close the file the frames are read from (a memory map is released when unused)."""
        if self._close is not None:
            self._close()


class _FileFrames:
    """Frames stored uncompressed and one after another in a file (a TIFF series, a .npy array),
    read with one positioned read each. Not memory-mapped: the pages a mapping touches count as the
    process's memory until the kernel needs them back."""

    def __init__(self, filename, offset: int, shape, dtype, fortran_order: bool = False):
        if fortran_order:
            raise ValueError("frames stored in Fortran order cannot be read one at a time")
        self.shape, self.dtype, self.ndim = tuple(int(s) for s in shape), np.dtype(dtype), len(shape)
        self._offset, self._fd = int(offset), os.open(filename, os.O_RDONLY)
        self._count = int(np.prod(self.shape[1:]))

    def __getitem__(self, k: int) -> np.ndarray:
        nbytes = self._count * self.dtype.itemsize
        buf = os.pread(self._fd, nbytes, self._offset + int(k) * nbytes)
        if len(buf) != nbytes:
            raise OSError(f"the file ends inside frame {int(k) + 1}")
        return np.frombuffer(buf, self.dtype).reshape(self.shape[1:])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        self.close()
