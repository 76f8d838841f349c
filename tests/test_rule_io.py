"""What rule scripts share: the log (with file descriptor 2), one-line errors, raw inputs."""

import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from milage.errors import MilageError
from milage.rule_io import raw_inputs


def _run_rule(tmp_path, body: str) -> subprocess.CompletedProcess:
    """A rule script's ``main`` run through :func:`milage.rule_io.run` in its own process
    (run redirects file descriptor 2 for good)."""
    log = str(tmp_path / "logs" / "rule.log")
    code = ("import os\nfrom types import SimpleNamespace\n"
            "from milage.errors import InputError\nfrom milage.rule_io import run\n\n"
            "def main(sm):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
            + f"\n\nrun(SimpleNamespace(log=[{log!r}]), main)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})


def test_bad_input_is_one_line_in_the_log_beside_what_libraries_print(tmp_path):
    result = _run_rule(tmp_path, """
        os.write(2, b"[E::vcf_parse] htslib's own line\\n")
        raise InputError("in.vcf", "record 3 cannot be read", "check it")
    """)
    assert result.returncode == 1 and result.stderr == ""
    log = (tmp_path / "logs" / "rule.log").read_text().splitlines()
    assert log[0] == "[E::vcf_parse] htslib's own line"
    assert log[1].endswith("ERROR milage: in.vcf: record 3 cannot be read. Fix: check it")
    assert len(log) == 2


def test_other_failures_keep_their_traceback(tmp_path):
    result = _run_rule(tmp_path, "raise KeyError('x')")
    assert result.returncode == 1
    assert "Traceback" in (tmp_path / "logs" / "rule.log").read_text()


def test_raw_inputs_are_the_demo_or_the_named_files():
    demo = raw_inputs({"inputs": {}}, "results/demo")
    assert demo["demo"] and demo["genotypes"] == "results/demo/raw/genotypes.vcf.gz"
    real = raw_inputs({"inputs": {"genotypes": "g.vcf.gz", "expression_gct": "e.gct",
                                  "sample_attributes": "a.txt", "gene_annotation": "g.gtf"}},
                      "results/x")
    assert not real["demo"] and real["truth"] is None and real["gct"] == "e.gct"
    with pytest.raises(MilageError, match=r"\['expression_gct'\] given without "
                                          r"inputs.genotypes"):
        raw_inputs({"inputs": {"expression_gct": "e.gct"}}, "results/x")
    with pytest.raises(MilageError, match="real data needs expression_gct, sample_attributes"):
        raw_inputs({"inputs": {"genotypes": "g.vcf.gz"}}, "results/x")
