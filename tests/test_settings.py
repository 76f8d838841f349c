"""Settings: config/config.yaml is the only source of defaults, and every settings class is
built from it by one function whose field names are the config's keys."""

from dataclasses import asdict, fields

import pytest
import yaml
from conftest import REPO

from milage.settings import (
    CisSettings,
    ExpressionSettings,
    InitSettings,
    SimulationSettings,
    StudySettings,
    TrainSettings,
)

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SECTIONS = {ExpressionSettings: CONFIG["expression"], CisSettings: CONFIG["cis"],
            InitSettings: CONFIG["trans"]["init"], TrainSettings: CONFIG["trans"]["train"],
            SimulationSettings: CONFIG["simulate"],
            StudySettings: CONFIG["simulation"]["fig2"]["data"]}


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_defaults_are_config_yaml(cls):
    """Built from config.yaml and built with no arguments, the settings are equal: no class
    keeps a default of its own."""
    assert cls.from_config(CONFIG) == cls()


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_every_key_of_the_section_is_a_field_of_the_same_name(cls):
    names = {f.name.removesuffix("_") for f in fields(cls)}
    assert set(SECTIONS[cls]) <= names


def test_a_config_value_reaches_the_settings():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cis"].update({"lambda": 0.3, "relax": [1.0], "cv_patience": 5})
    config["trans"]["train"]["refit_lambdas"] = []
    cis = CisSettings.from_config(config)
    assert (cis.lambda_, cis.relax, cis.cv_patience) == (0.3, (1.0,), 5)
    assert TrainSettings.from_config(config).refit_lambdas == ()
    study_train = TrainSettings.for_study(CONFIG)
    assert (study_train.learning_rate, study_train.refit_lambdas) == (0.05, ())
    assert InitSettings.for_study(CONFIG).n_factors == CONFIG["simulation"]["fig2"]["data"][
        "n_factors"]
    assert asdict(cis)["lambda_"] == 0.3
