"""Project files: envs/ in step with pyproject.toml, every config key documented.

Conda channels cannot be reached from the development machines, so this test is what keeps
the environments right: the same packages with the same lower bounds as pyproject.toml.
"""

import re
import tomllib

import yaml
from conftest import REPO

# PyPI name -> conda-forge / bioconda name, where they differ
CONDA_NAMES: dict[str, str] = {}


def _requirements(specs):
    """{name: version bound} from PEP 508 / conda match specs like 'numpy>=1.26'."""
    out = {}
    for spec in specs:
        name, bound = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec.strip()).groups()
        out[name.lower()] = bound.replace(" ", "")
    return out


def test_every_env_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(k, k): v for k, v in _requirements(project["dependencies"]).items()}
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        deps = yaml.safe_load(env.read_text())["dependencies"]
        have = _requirements(d for d in deps if isinstance(d, str))
        python = have.pop("python")
        assert python == ">=" + project["requires-python"].removeprefix(">="), env.name
        assert have == wanted, env.name


def test_every_rule_names_an_existing_env():
    rules = (REPO / "workflow" / "rules").glob("*.smk")
    text = "\n".join(r.read_text() for r in rules)
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    env = re.search(r'^ENV = "(.+)"$', common, re.M).group(1)
    assert (REPO / "workflow" / "rules" / env).resolve().is_file()
    n_rules = len(re.findall(r"^(?:rule|checkpoint) ", text, re.M))
    assert text.count("conda:\n        ENV") == n_rules


def test_config_readme_documents_every_schema_key():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    readme = (REPO / "config" / "README.md").read_text()

    def keys(node):
        for key, sub in node.get("properties", {}).items():
            yield key
            yield from keys(sub)

    missing = [k for k in keys(schema) if f"`{k}`" not in readme]
    assert not missing


def test_readme_layout_lists_every_module():
    readme = (REPO / "README.md").read_text()
    layout = readme[readme.index("## Layout"):readme.index("## The cis solver")]
    listed = set(re.findall(r"`(\w+)`", layout))
    modules = {p.stem for p in (REPO / "src" / "milage").glob("*.py")} - {"__init__"}
    assert modules <= listed, sorted(modules - listed)
