"""milage: Mixed-Layer Analysis of Genetics and Expression."""

__version__ = "0.1.0"
