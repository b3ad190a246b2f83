"""The second bad-input matrix, config: what a command line or a received config file can do silently or
vaguely. A key given twice, two dataset presets, an overlay over a finished study, non-finite numbers, a
Python tag, a development fraction that leaves nobody."""

import re

import pytest
import yaml
from dataset_files import tiny_table
from hardening.inputs import people_rows

from emoverify import study
from snakemake_helpers import ROOT, TINY, snakemake, write_study_config

PRESETS = ROOT / "workflow" / "presets"


def test_a_config_file_giving_a_key_twice_stops_planning_naming_the_key_and_lines(tmp_path):
    write_study_config(tmp_path / "study.yaml", TINY)
    (tmp_path / "study.yaml").write_text((tmp_path / "study.yaml").read_text() + "epochs: 5\n")
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    assert "study.yaml: key 'epochs' is given twice (lines " in result.stdout + result.stderr


def test_a_nested_key_given_twice_is_named_too(tmp_path):
    from emoverify import configfiles

    (tmp_path / "study.yaml").write_text("training:\n  learning_rate: 0.1\n  width: 8\n  learning_rate: 0.2\n")
    with pytest.raises(configfiles.ConfigFileError, match=r"key 'learning_rate' is given twice \(lines 2 and 4\)"):
        configfiles.read_strict(tmp_path / "study.yaml")


def test_two_dataset_presets_on_one_command_stop_naming_both():
    from emoverify import configfiles

    files = [ROOT / "config.yaml", PRESETS / "jaffe.yaml", PRESETS / "csv.yaml"]
    with pytest.raises(configfiles.ConfigFileError, match=r"2 dataset presets on one command: .*jaffe.yaml, .*csv"):
        configfiles.check(files, PRESETS, {}, "csv")


def test_an_overlay_over_a_preset_writes_to_its_own_experiment():
    from emoverify import configfiles

    files = [ROOT / "config.yaml", PRESETS / "jaffe.yaml", PRESETS / "overlays" / "tuned.yaml"]
    assert configfiles.check(files, PRESETS, {}, "jaffe") == "jaffe_tuned"
    assert configfiles.check(files, PRESETS, {"experiment": "mine"}, "mine") == "mine"
    assert configfiles.check(files[:2], PRESETS, {}, "jaffe") == "jaffe"


def test_an_overlay_after_a_file_naming_the_experiment_keeps_it(tmp_path):
    from emoverify import configfiles

    (tmp_path / "study.yaml").write_text("experiment: ours\n")
    files = [PRESETS / "jaffe.yaml", tmp_path / "study.yaml", PRESETS / "overlays" / "tuned.yaml"]
    assert configfiles.check(files, PRESETS, {}, "ours") == "ours"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"training": {"learning_rate": float("nan")}}, "training.learning_rate"),
        ({"training": {"learning_rate": float("inf")}}, "training.learning_rate"),
        ({"methods": {"tl_pdp": {"aux": {"pdp": float("nan")}}}}, "methods.tl_pdp.aux.pdp"),
    ],
    ids=["nan learning rate", "inf learning rate", "nan weight"],
)
def test_non_finite_numbers_are_refused_at_parse_time_naming_the_key(defaults, changes, key):  # noqa: F811
    merged = yaml.safe_load(yaml.safe_dump(defaults))
    for section, values in changes.items():
        for name, value in values.items():
            merged[section][name] = value if section != "methods" else {**merged[section][name], **value}
    with pytest.raises(study.ConfigError, match=f"config key {re.escape(key)}: (nan|inf) is not a finite number"):
        study.check_schema(merged, study_schema())


def study_schema():
    from emoverify.schema import load_schema

    return load_schema()


def test_a_strict_read_of_a_yaml_python_tag_says_so(tmp_path):
    """What the workflow's own read says; Snakemake reads a --configfile before the workflow and gives its own
    message first (docs/troubleshooting.md)."""
    from emoverify import configfiles

    (tmp_path / "study.yaml").write_text('epochs: 1\nseeds: !!python/object/apply:os.system ["true"]\n')
    with pytest.raises(configfiles.ConfigFileError, match=r"study.yaml: line 2: !!python/object/apply:os.system is"):
        configfiles.read_strict(tmp_path / "study.yaml")


def test_a_development_fraction_leaving_too_few_people_names_the_key(tmp_path):
    config = tiny_table(tmp_path, people_rows(people=("A", "B", "C", "D", "E", "F", "G", "H")))
    with pytest.raises(study.ConfigError, match=r"the config key development_fraction \(0.99\) sets 8 of the 8"):
        study.data_digest({**config, "folds": 2, "development_fraction": 0.99})
