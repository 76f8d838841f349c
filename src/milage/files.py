"""Small file helpers shared by every stage: atomic outputs, tables and arrays."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from milage.errors import InputError


def require_file(path: str | os.PathLike, what: str,
                 fix: str = "check the path in config/config.yaml (section inputs)") -> Path:
    """Return ``path`` as a Path, or raise InputError (with ``fix``) if it does not exist."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"the {what} file does not exist", fix)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    A failure inside the block removes the temporary file, so no partial output is left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def gzip_text(path: str | os.PathLike, compresslevel: int = 4) -> Iterator[io.TextIOWrapper]:
    """A text stream gzipped into ``path`` with no file name or time in the gzip header,
    so the same content always gives the same bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0,
                                                compresslevel=compresslevel) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
            yield text


def read_input_table(path: str | os.PathLike, what: str, fix: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` of an input file; a file it cannot read (empty, ragged, truncated
    gzip, not text) stops with one line naming the file, the line where pandas says, and
    ``fix`` (the layout the file should have)."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(path, f"the {what} file is empty", fix) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(path, f"the compressed {what} file is truncated or corrupt ({err})",
                         "copy or download it again") from None
    except UnicodeDecodeError:
        raise InputError(path, f"the {what} file is not text", fix) from None
    except (pd.errors.ParserError, ValueError) as err:
        reason = str(err).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise InputError(path, f"the {what} file cannot be read: {reason}", fix) from None


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a tab-separated table atomically (gzip when the name ends in .gz)."""
    with atomic_output(path) as tmp:
        if str(path).endswith(".gz"):
            with gzip_text(tmp) as fh:
                df.to_csv(fh, sep="\t", index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False)


def read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    return pd.read_csv(path, sep="\t", **kwargs)


def write_array(array: np.ndarray, path: str | os.PathLike) -> None:
    """Save an array as .npy atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def file_names(labels) -> dict[str, str]:
    """A file-system-safe name for each data label (a tissue: "Brain - Cerebellum" ->
    "Brain_Cerebellum"): runs of characters other than letters and digits become one "_",
    so no label can name a folder or climb out of one ("../x" -> "x"). Raises if a label
    has no letter or digit, or two labels give one name."""
    names: dict[str, str] = {}
    for label in labels:
        name = re.sub(r"[^A-Za-z0-9]+", "_", str(label)).strip("_")
        if not name:
            raise InputError(label, "this label has no letter or digit to name its output "
                             "file", "rename it in the input data")
        clash = [other for other, n in names.items() if n == name]
        if clash:
            raise InputError(label, f"this label and {clash[0]!r} give the same output file "
                             f"name {name!r}", "rename one of them in the input data")
        names[label] = name
    return names
