"""Exception types for bad input: one clear message naming the file, the ID and the fix."""

from __future__ import annotations


class MilageError(Exception):
    """Base class of the errors milage raises for bad input or settings."""


class MemoryLimitError(MilageError):
    """Training that the machine's memory cannot hold (:mod:`milage.trans_memory`)."""


class InputError(MilageError):
    """An input file, ID or value that milage cannot use.

    Parameters
    ----------
    path : the offending file (or config key), shown first.
    problem : what is wrong, naming the ID, line or value.
    fix : what the user should do about it.
    """

    def __init__(self, path: object, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class EmptyAfterFilterError(InputError):
    """A filter removed every gene, SNP, tissue or individual."""
