import errno
import io
import os
import tempfile

import keras
import numpy as np
import pytest

from milage import spill as spill_module
from milage.errors import MilageError
from milage.spill import Spill


def test_a_spill_gives_back_its_values_padded_to_a_grown_variable(monkeypatch):
    """What was written, a few rows at a time, comes back exactly, with zero rows appended
    where the variable has grown since (a working set's alpha), and only onto as many
    variables as were written."""
    monkeypatch.setattr(spill_module, "CHUNK_BYTES", 12)    # alpha: one row at a time
    alpha = keras.Variable(np.arange(6, dtype="float32").reshape(3, 2) / 7)
    bias = keras.Variable(np.linspace(-1, 1, 4, dtype="float32"))
    written = [alpha.numpy(), bias.numpy()]
    steps = keras.Variable(np.int64(3))
    spill = Spill([alpha, bias])
    step_type = np.dtype(keras.backend.standardize_dtype(steps.dtype))   # int32 under JAX
    assert [(a.dtype, a.shape, a.tolist()) for a in Spill([steps, np.zeros((0, 2))]).arrays()
            ] == [(step_type, (), 3), (np.float64, (0, 2), [])]
    bias.assign(np.zeros(4, "float32"))
    grown = keras.Variable(np.full((5, 2), 9, "float32"))
    spill.assign_to([grown, bias])
    np.testing.assert_array_equal(grown.numpy(), np.vstack([written[0], np.zeros((2, 2))]))
    np.testing.assert_array_equal(bias.numpy(), written[1])
    with pytest.raises(ValueError):
        spill.assign_to([grown])


def test_a_spill_written_again_holds_the_new_values_only():
    """Training rewrites its way back every epoch over the same file: the values of the
    last write come back, and the file holds nothing more (a shorter write truncates it)."""
    beta = keras.Variable(np.arange(12, dtype="float32").reshape(3, 4))
    spill = Spill([beta, np.ones(5)])
    size = os.fstat(spill._fh.fileno()).st_size
    beta.assign(-beta.numpy())
    spill.write([beta])
    assert [a.tolist() for a in spill.arrays()] == [(-np.arange(12).reshape(3, 4)).tolist()]
    assert os.fstat(spill._fh.fileno()).st_size == size - 128 - 5 * 8   # .npy header: 128


def test_a_full_temporary_disk_is_one_error_naming_the_folder_and_the_fix(monkeypatch):
    class Full(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", Full)
    with pytest.raises(MilageError) as error:
        Spill([np.zeros(3)])
    assert str(error.value) == (
        "training cannot write the values it may return to (weights and optimizer state) in "
        f"{tempfile.gettempdir()}: No space left on device. Fix: set TMPDIR to a folder on a "
        "disk with more free space (GTEx v8, NN: about 60 GB while learning_rate auto "
        "searches)")
