"""File helpers: output names built from data labels."""

import pytest

from milage.errors import InputError
from milage.files import file_names


def test_file_names_cannot_leave_the_output_folder():
    names = file_names(["Brain - Cerebellum", "../../etc/passwd", "Cells - EBV-transformed "
                        "lymphocytes", "a/b\\c"])
    assert list(names.values()) == ["Brain_Cerebellum", "etc_passwd",
                                    "Cells_EBV_transformed_lymphocytes", "a_b_c"]


def test_labels_that_collide_or_name_nothing_are_refused():
    with pytest.raises(InputError, match=r"^Brain_X: this label and 'Brain - X' give the same "
                                         r"output file name 'Brain_X'\. Fix: rename one"):
        file_names(["Brain - X", "Brain_X"])
    with pytest.raises(InputError, match=r"^\.\./: this label has no letter or digit"):
        file_names(["Lung", "../"])
