import keras
import numpy as np
import pytest

from milage.spill import Spill


def test_a_spill_gives_back_its_values_padded_to_a_grown_variable():
    """What was written comes back exactly, with zero rows appended where the variable has
    grown since (a working set's alpha), and only onto as many variables as were written."""
    alpha = keras.Variable(np.arange(6, dtype="float32").reshape(3, 2) / 7)
    bias = keras.Variable(np.linspace(-1, 1, 4, dtype="float32"))
    written = [alpha.numpy(), bias.numpy()]
    spill = Spill([alpha, bias])
    bias.assign(np.zeros(4, "float32"))
    grown = keras.Variable(np.full((5, 2), 9, "float32"))
    spill.assign_to([grown, bias])
    np.testing.assert_array_equal(grown.numpy(), np.vstack([written[0], np.zeros((2, 2))]))
    np.testing.assert_array_equal(bias.numpy(), written[1])
    with pytest.raises(ValueError):
        spill.assign_to([grown])
