"""Values training returns to (where an undone epoch started, each rate's run in the rate
search, the best epoch's weights, the weights before a refit or a polish), kept in unnamed
temporary files rather than in memory.

Why a file: each is read back only when training returns to it, and in memory they would
be the largest items of the peak (NN at GTEx v8: weights and Adam's moments 5.9 GB, the
best weights 2 GB, and one of each per rate tried). The file's pages sit in the page
cache, which the kernel writes out and reclaims as it needs (``TMPDIR`` names where).
"""

from __future__ import annotations

import math
import tempfile

import keras
import numpy as np

from milage.errors import MilageError
from milage.trans_network import host_array


class Spill:
    """``values`` (variables or arrays) written one at a time to an unnamed temporary file,
    deleted with this object; :meth:`write` replaces them."""

    _fh = None

    def __init__(self, values=()):
        try:
            self._fh = tempfile.TemporaryFile()
        except OSError as error:
            raise _unwritable(error) from error
        self.write(values)

    def write(self, values) -> None:
        """Replace the values by ``values``, written over the file's pages. Why reuse the
        file: the kernel then neither allocates nor zeroes its pages, a third of a new
        file's time (26 MB: 2.2 ms, not 6.8), and training writes its way back every epoch
        (:func:`milage.trans_train._epoch`)."""
        self._count = 0
        try:
            self._fh.seek(0)
            for value in values:
                _write(self._fh, value)
                self._count += 1
            self._fh.truncate()
        except OSError as error:
            raise _unwritable(error) from error

    def __del__(self):
        if self._fh:
            self._fh.close()

    def arrays(self):
        """The values as arrays, one at a time."""
        self._fh.seek(0)
        for _ in range(self._count):
            yield np.load(self._fh)

    def assign_to(self, variables) -> None:
        """Set ``variables`` to the values (zero rows appended where a working set has grown
        since they were written: :func:`padded`)."""
        for v, value in zip(variables, self.arrays(), strict=True):
            v.assign(padded(value, v.shape))


def _unwritable(error: OSError) -> MilageError:
    return MilageError(
        f"training cannot write the values it may return to (weights and optimizer state) "
        f"in {tempfile.gettempdir()}: {error.strerror}. Fix: set TMPDIR to a folder on a "
        "disk with more free space (GTEx v8, NN: about 60 GB while learning_rate auto "
        "searches)")


CHUNK_BYTES = 2**26   # bytes of a value converted to an array and written at a time


def _write(fh, value) -> None:
    """Write ``value`` (a variable or an array) to ``fh`` as .npy, ``CHUNK_BYTES`` of its
    rows at a time. Why not ``np.save`` of the whole: reading a variable copies it (beta at
    GTEx v8: 3.9 GB more at the peak); a slice's copy is read in place (:func:`host_array`)."""
    shape, dtype = tuple(value.shape), np.dtype(keras.backend.standardize_dtype(value.dtype))
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype),
                                              "fortran_order": False, "shape": shape})
    if not shape:
        fh.write(np.asarray(keras.ops.convert_to_numpy(value), dtype).tobytes())
        return
    rows = max(1, CHUNK_BYTES // max(1, dtype.itemsize * math.prod(shape[1:])))
    for lo in range(0, shape[0], rows):
        fh.write(np.ascontiguousarray(host_array(value[lo:lo + rows])).data)


def padded(value: np.ndarray, shape) -> np.ndarray:
    """``value`` with zero rows appended up to ``shape``: a weight saved before a working
    set grew (a SNP added since had a zero row then)."""
    if value.shape == tuple(shape):
        return value
    out = np.zeros(shape, dtype=value.dtype)
    out[:len(value)] = value
    return out
