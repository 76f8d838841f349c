"""The configuration check: every value the schema refuses gets one line naming the key and
the values it takes."""

import copy

import pytest
import yaml
from conftest import REPO

from milage.config import check_config
from milage.errors import MilageError

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
FIX = "Fix: correct it in your config (config/README.md documents every key)"


def _set(config, path, value):
    *parents, last = path
    for key in parents:
        config = config[key]
    if value is KeyError:
        del config[last]
    else:
        config[last] = value


@pytest.mark.parametrize("path, value, message", [
    (("trans", "train", "l1", "alpha"), -1,
     f"config trans.train.l1.alpha: -1 is not a number >= 0 or one of auto or a mapping with "
     f"keys ml, nn, tm. {FIX}"),
    (("trans", "train", "learning_rate"), "fast",
     f"config trans.train.learning_rate: 'fast' is not a number > 0 or one of auto or a "
     f"mapping with keys ml, nn, tm. {FIX}"),
    (("trans", "train", "l1", "alpha"), {"ml": -1, "nn": 1, "tm": 1},
     f"config trans.train.l1.alpha.ml: -1 is not a number >= 0 or one of auto. {FIX}"),
    (("trans", "train", "learning_rate"), {"ml": 0.1},
     "config trans.train.learning_rate.nn: missing. Fix: add it (config/config.yaml has every "
     "key)"),
    (("cis", "lambda"), -0.5, f"config cis.lambda: -0.5 is not a number > 0 or 'auto'. {FIX}"),
    (("cis", "relax"), [0.5, 2], f"config cis.relax[1]: 2 is not a number >= 0 and <= 1. {FIX}"),
    (("split", "test_fraction"), 0,
     f"config split.test_fraction: 0 is not a number > 0 and < 1. {FIX}"),
    (("split", "valid_fraction"), 0,
     f"config split.valid_fraction: 0 is not a number > 0 and < 1. {FIX}"),
    (("simulate", "n_individuals"), 15,
     f"config simulate.n_individuals: 15 is not an integer >= 20. {FIX}"),
    (("trans", "train", "working_set"), "yes",
     f"config trans.train.working_set: 'yes' is not one of auto, true, false. {FIX}"),
    (("trans", "models"), ["ml", "xx"],
     f"config trans.models[1]: 'xx' is not one of ml, nn, tm. {FIX}"),
    (("bogus",), 1,
     "config: unknown key 'bogus'. Fix: remove it or correct its spelling (keys here: dataset, "
     "seed, inputs, simulate, genotypes, expression, split, cis, predictdb, trans, enrichment, "
     "analysis, simulation, predict)"),
    (("trans", "eqtl_top"), KeyError,
     "config trans.eqtl_top: missing. Fix: add it (config/config.yaml has every key)"),
])
def test_refused_values_name_the_key_and_the_allowed_values(path, value, message):
    config = copy.deepcopy(CONFIG)
    _set(config, path, value)
    with pytest.raises(MilageError) as err:
        check_config(config, SCHEMA)
    assert str(err.value) == message


def _merged(base, override):
    """``override`` over ``base``, mappings merged recursively (as Snakemake's --configfile)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def test_the_shipped_configs_pass():
    check_config(CONFIG, SCHEMA)
    for name in ("simulation_medium.yaml", "simulation_paper.yaml"):
        check_config(_merged(CONFIG, yaml.safe_load((REPO / "config" / name).read_text())),
                     SCHEMA)


def test_several_problems_report_the_first_and_count_the_rest():
    config = copy.deepcopy(CONFIG)
    config["cis"]["cv_folds"] = 1
    config["trans"]["n_factors"] = 0
    with pytest.raises(MilageError, match=r"^config cis.cv_folds: 1 is not an integer >= 2\. "
                                          r".*\(1 more problems after it\)$"):
        check_config(config, SCHEMA)
