"""Project files: envs/ in step with pyproject.toml, every config key documented with
config.yaml's default, the READMEs citing only files that exist.

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


def test_readmes_cite_only_files_that_exist():
    cited = set()
    for readme in ("README.md", "config/README.md"):
        text = (REPO / readme).read_text()
        cited |= set(re.findall(r"\b(?:tests|benchmarks|scripts|config|envs|workflow)/[\w./-]*\w",
                                text))
    missing = sorted(p for p in cited if not (REPO / p).exists())
    assert not missing


def _value(cell):
    """A config README default cell as data: YAML, numbers as floats (1e-4 == 0.0001), and
    prose like 'alpha `auto`, beta 0.01' as a mapping."""
    text = cell.replace("`", "").strip()
    if re.fullmatch(r"\w+ [^ ,]+(, \w+ [^ ,]+)+", text):
        return {k: _value(v) for k, v in (pair.split(" ") for pair in text.split(", "))}
    return _normal(yaml.safe_load(text))


def _normal(value):
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    try:
        return float(value)
    except ValueError:
        return value


def test_config_readme_defaults_are_config_yaml_values():
    """Each `| key | default | meaning |` row of config/README.md against config.yaml; a row
    with an empty default opens its key's sub-table for the rows below it."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    readme = (REPO / "config" / "README.md").read_text()
    wrong = []
    for section, body in re.findall(r"^## `?(\w+[^`\n]*)`?.*?\n(.*?)(?=^## |\Z)", readme,
                                    re.M | re.S):
        if "| key | default | meaning |" not in body:
            continue
        scopes = [config] if section == "Top level" else [config[section]]
        for keys, default in re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|([^|]*)\|", body, re.M):
            names = re.findall(r"`(\w+)`", keys)
            while len(scopes) > 1 and names[0] not in scopes[-1]:
                scopes.pop()
            if not default.strip():
                scopes.append(scopes[-1][names[0]])
                continue
            cells = default.split(", ") if len(names) > 1 else [default]
            for name, cell in zip(names, cells, strict=True):
                have = _normal(scopes[-1].get(name, "(not in config.yaml)"))
                if _value(cell) != have:
                    wrong.append(f"{section}.{name}: README {cell.strip()}, config.yaml {have}")
    assert not wrong, "\n".join(wrong)
