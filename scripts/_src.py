"""Imported first by every rule script: puts this checkout's src/ at the front of sys.path.

Rules thus run the library of the checkout they belong to, also inside `--use-conda`
environments, which hold milage's dependencies but not milage itself. (Snakemake puts the
scripts/ folder on the path of a local script, which is how this module is found.)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
