"""Evolve settings: defaults for every key, YAML errors that say what and where."""
import os

import pytest

from adrs_spec.errors import InputError
from adrs_spec.runtime.config import Settings, load_settings, validate_settings, with_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_example_file_states_exactly_the_defaults():
    assert load_settings(os.path.join(ROOT, "evolve.example.yaml")) == Settings()


def test_an_unknown_key_names_the_nearest_valid_one(tmp_path):
    path = tmp_path / "evolve.yaml"
    path.write_text("search:\n  island: 4\n")
    with pytest.raises(InputError) as err:
        load_settings(str(path))
    assert str(err.value) == f"{path}: unknown key `search.island`; did you mean `search.islands`?"


def test_a_key_with_no_near_match_lists_the_valid_ones():
    with pytest.raises(InputError) as err:
        load_settings(data={"stop": {"zzz": 1}})
    assert str(err.value) == "config: unknown key `stop.zzz`; valid keys here: iterations, patience, target_score"


def test_wrong_types_name_the_key_and_the_type():
    with pytest.raises(InputError) as err:
        load_settings(data={"evaluation": {"workers": "two"}})
    assert str(err.value) == "config: `evaluation.workers` must be an integer, not 'two'"
    with pytest.raises(InputError) as err:
        load_settings(data={"llm": {"models": [{"name": "m", "weight": True}]}})
    assert str(err.value) == "config: `llm.models[0].weight` must be a number, not True"


def test_models_and_nested_sections_are_read():
    s = load_settings(data={"llm": {"models": [{"name": "a", "weight": 3}, {"name": "b"}]},
                            "search": {"features": ["score"]}})
    assert [(m.name, m.weight) for m in s.llm.models] == [("a", 3.0), ("b", 1.0)]
    assert s.search.features == ("score",) and s.uses_llm


def test_invalid_yaml_is_located(tmp_path):
    path = tmp_path / "evolve.yaml"
    path.write_text("stop:\n  iterations: [1\n")
    with pytest.raises(InputError) as err:
        load_settings(str(path))
    assert str(err.value).startswith(f"{path}:3:1: not valid YAML")


def test_flags_override_and_values_are_checked():
    s = with_overrides(Settings(), seed=7, stop__iterations=5, evaluation__workers=None)
    assert (s.seed, s.stop.iterations, s.evaluation.workers) == (7, 5, 0)
    with pytest.raises(InputError) as err:
        validate_settings(with_overrides(Settings(), prompt__mode="patch"))
    assert str(err.value) == "config: prompt.mode must be `diff` or `rewrite`"
