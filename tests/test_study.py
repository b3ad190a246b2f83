"""The study plan: config coercion, semantic checks, which runs a config asks for."""

import copy
from pathlib import Path

import pytest
import yaml

from emoverify import registry, study
from emoverify.layout import reference_run
from emoverify.schema import fill_defaults, load_schema
from emoverify.tuning import grid

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema()


@pytest.fixture
def config():
    loaded = yaml.safe_load((ROOT / "config.yaml").read_text())
    fill_defaults(loaded)
    return loaded


def test_default_config_validates_and_fills_defaults(config):
    assert config["training"]["arcface_scale"] == 30.0
    assert config["evaluation"]["exclude_same_session"] is True
    assert config["references"] == ["pixels", "untrained", "dlib"]


@pytest.mark.parametrize("preset", ["jaffe", "ckplus48"])
def test_the_real_dataset_presets_score_the_dlib_reference_on_every_fold_and_seed(config, preset):
    from snakemake.utils import update_config

    update_config(config, yaml.safe_load((ROOT / "workflow" / "presets" / f"{preset}.yaml").read_text()))
    assert "dlib" in config["references"]
    dlib_runs = [run for run in study.planned_references(config) if run.method == "dlib"]
    assert len(dlib_runs) == config["repeats"] * config["folds"] * len(config["seeds"])
    assert dlib_runs[0] == reference_run("dlib", 0, config["seeds"][0]) and dlib_runs[0].path.startswith(
        "references/dlib/"
    )


def merged_over_default(config: dict, *files: Path) -> dict:
    """config.yaml with each file's keys laid over it in turn, one level deep, as Snakemake merges configfiles."""
    merged = copy.deepcopy(config)
    for file in files:
        for key, value in yaml.safe_load(file.read_text()).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


@pytest.mark.parametrize("preset", sorted((ROOT / "workflow" / "presets").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_validate_over_the_default(config, preset, tmp_path):
    merged = merged_over_default(config, preset)
    fill_defaults(merged)
    merged["data_root"] = str(tmp_path)  # exists, empty: its layout cannot be judged before reading
    study.check_study(merged)
    assert merged["experiment"] == preset.stem


def test_misspelt_key_is_an_error_naming_it(config):
    config["epochz"] = 3
    with pytest.raises(Exception, match="epochz"):
        fill_defaults(config)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epocs": 3}, "unknown config key 'epocs'; did you mean 'epochs'?"),
        ({"fold": 3}, "unknown config key 'fold'; did you mean 'folds'?"),
        ({"faces": {"detecter": "none"}}, "unknown config key 'faces.detecter'; did you mean 'detector'?"),
        ({"csv_columns": {"person": "who"}}, "unknown config key 'csv_columns.person'; valid keys here: emotion,"),
        ({"folds": 1}, "config key folds: 1 is less than the minimum of 2"),
    ],
)
def test_config_errors_name_the_nearest_key_in_a_few_lines(config, changes, message):
    config.update(changes)
    with pytest.raises(study.ConfigError) as error:
        study.check_schema(config, SCHEMA)
    assert message in str(error.value)
    assert len(str(error.value).splitlines()) <= 3, "no schema dump"


def test_scalar_seeds_are_a_list_of_one():
    schema = SCHEMA
    assert study.coerce_to_schema({"seeds": 0}, schema)["seeds"] == [0]
    assert study.coerce_to_schema({"seeds": "3"}, schema)["seeds"] == [3]
    assert study.coerce_to_schema({"label_sources": "manual"}, schema)["label_sources"] == ["manual"]


def test_command_line_strings_are_coerced_to_schema_types():
    schema = SCHEMA
    overrides = {
        "seeds": ["0", "1"],
        "folds": "4",
        "training": {"learning_rate": "0.01", "augment_flip": "false"},
        "methods": {"x": {"primary": "triplet", "geometry": "spherical", "aux": {"pdp": "0.5"}}},
    }
    coerced = study.coerce_to_schema(overrides, schema)
    assert coerced["seeds"] == [0, 1]
    assert coerced["folds"] == 4
    assert coerced["training"] == {"learning_rate": 0.01, "augment_flip": False}
    assert coerced["methods"]["x"]["aux"]["pdp"] == 0.5


def test_unknown_run_method_names_the_defined_ones(config):
    config["run_methods"] = ["tl", "tl_pdq"]
    with pytest.raises(study.ConfigError, match="tl_pdq.*defined methods"):
        study.check_study(config)


def test_min_epochs_beyond_the_epoch_cap_is_rejected(config):
    config["training"]["min_epochs"] = config["epochs"] + 1
    with pytest.raises(study.ConfigError, match=r"training.min_epochs \(\d+\) exceeds epochs"):
        study.check_study(config)


def test_arcface_off_the_sphere_is_rejected(config):
    config["methods"]["af"]["geometry"] = "euclidean"
    with pytest.raises(study.ConfigError, match="sphere"):
        study.check_study(config)


def test_real_dataset_without_data_root_says_what_to_do(config):
    config["dataset"] = "jaffe"
    with pytest.raises(study.ConfigError, match="data_root"):
        study.check_study(config)


def test_missing_data_root_folder_is_named(config, tmp_path):
    config.update(dataset="jaffe", data_root=str(tmp_path / "nowhere"))
    with pytest.raises(study.ConfigError, match="nowhere.*does not exist"):
        study.check_study(config)


def test_a_tree_of_another_fixed_layout_names_the_right_preset(config, tmp_path):
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "S010_004_00000017.png").write_bytes(b"")
    (tmp_path / "anger").mkdir()
    (tmp_path / "anger" / "S011_001_00000010.png").write_bytes(b"")
    config.update(dataset="jaffe", data_root=str(tmp_path))
    with pytest.raises(study.ConfigError, match="jaffe layout.*ckplus48 adapter.*presets/ckplus48.yaml"):
        study.check_study(config)
    config["dataset"] = "ckplus48"
    study.check_study(config)  # the right adapter passes
    config["dataset"] = "folder"
    study.check_study(config)  # a generic adapter is not second-guessed


def test_label_free_methods_run_once_per_repeat_fold_and_seed(config):
    config.update(run_methods=["tl", "tl_pdp"], folds=2, seeds=[0, 1], repeats=2, label_sources=["manual", "shuffled"])
    runs = study.planned_runs(config)
    tl_runs = [r for r in runs if r.method == "tl"]
    pdp_runs = [r for r in runs if r.method == "tl_pdp"]
    assert {r.label_source for r in tl_runs} == {"none"} and len(tl_runs) == 8
    assert {r.label_source for r in pdp_runs} == {"manual", "shuffled"} and len(pdp_runs) == 16
    assert len(set(runs)) == len(runs)
    assert tl_runs[0].path == "runs/tl/none/repeat0/fold0/seed0"
    assert len(study.planned_references(config)) == len(config["references"]) * 2 * 2 * 2


def test_each_auxiliary_method_gets_the_baseline_of_its_primary_loss_and_geometry(config):
    config["run_methods"] = ["tl", "tl_fbv", "tl_pdp", "af", "af_pdp"]
    assert study.baseline_of("tl_fbv", config) == "tl_euclidean"  # Euclidean, scored with Euclidean distance
    assert study.baseline_of("tl_pdp", config) == "tl"
    assert study.baseline_of("af_pdp", config) == "af"
    assert study.baseline_of("tl", config) is None
    config["run_methods"] = ["tl_fbv"]
    assert study.compared_methods(config) == ["tl_fbv", "tl_euclidean"]  # the matched baseline is added
    assert {run.method for run in study.planned_runs(config)} == {"tl_fbv", "tl_euclidean"}


def test_a_trained_method_starts_from_the_untrained_network_or_for_a_euclidean_head_from_the_recognizer(config):
    assert study.starting_point("tl", config) == study.starting_point("tl_fbv", config) == "untrained"
    config["training"]["backbone"] = "head"  # epoch 0 is a rotation of the recognizer's space
    config["training"]["features"] = "dlib"
    assert study.starting_point("tl", config) == study.starting_point("af_pdp", config) == "untrained"  # cosine
    assert study.starting_point("tl_euclidean", config) == study.starting_point("tl_fbv", config) == "dlib"
    config["training"].update(backbone=study.DLIB_RESNET, finetune="level0")  # a fine-tune starts as dlib's network
    assert study.starting_point("tl", config) == "untrained" and study.starting_point("tl_fbv", config) == "dlib"


def test_an_auxiliary_method_without_a_matched_baseline_is_a_config_error(config):
    del config["methods"]["tl_euclidean"]
    config["run_methods"] = ["tl_fbv"]
    with pytest.raises(study.ConfigError, match="no matched baseline.*geometry: euclidean"):
        study.check_study(config)


def test_the_manipulation_check_measures_with_manual_labels_wherever_the_study_reads_them(config):
    config = study.coerce_to_schema(config, SCHEMA)
    fill_defaults(config)
    assert study.true_label_params(config) == {"name": "manual"}
    config["label_sources"] = ["detected", "shuffled"]  # shuffled permutes the manual labels
    assert study.true_label_params(config) == {"name": "manual"}
    config["labels"]["shuffle_source"] = "detected"
    assert study.true_label_params(config) == study.label_params(config, "detected")
    assert study.true_label_params(config)["confidence_threshold"] == config["labels"]["confidence_threshold"]


def test_a_methods_expression_terms_leave_out_a_weight_of_zero(config):
    config["methods"]["tl_two"] = {"primary": "triplet", "geometry": "euclidean", "aux": {"pdp": 0.1, "ce": 0.0}}
    assert study.expression_terms(config, "tl_two") == ["pdp"]
    assert study.expression_terms(config, "tl_pdp_fbv") == ["fbv", "pdp"]
    assert study.expression_terms(config, "tl") == []


def test_label_sources_read_by_a_run(config):
    config = study.coerce_to_schema(config, SCHEMA)
    fill_defaults(config)
    assert study.label_sources_read(config, "none") == set()
    assert study.label_sources_read(config, "shuffled") == {"manual"}  # it permutes the manual labels
    assert study.label_params(config, "detected")["confidence_threshold"] == config["labels"]["confidence_threshold"]
    assert "confidence_threshold" not in study.label_params(config, "manual")
    config["training"]["sampler"] = "expression_pairs"
    config["training"]["sampler_labels"] = "detected"
    assert study.label_sources_read(config, "none") == {"detected"}  # every run's batches need them


def test_canonical_form_ignores_key_order_but_keeps_list_order():
    first = {"b": {"y": 1, "x": [3, {"q": 1, "p": 2}]}, "a": 0}
    second = {"a": 0, "b": {"x": [3, {"p": 2, "q": 1}], "y": 1}}
    assert repr(study.canonical(first)) == repr(study.canonical(second))
    assert study.canonical({"l": [2, 1]})["l"] == [2, 1]


@pytest.mark.parametrize("preset", sorted((ROOT / "workflow" / "presets").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_states_its_whole_recipe(preset):
    """Merged over config.yaml as Snakemake merges config files, a preset's recipe is its own, not the demo's."""
    from snakemake.utils import update_config

    own = yaml.safe_load(preset.read_text())
    merged = yaml.safe_load((ROOT / "config.yaml").read_text())
    update_config(merged, own)
    assert "epochs" in own
    keys = study.recipe_keys(own["training"]["backbone"])
    missing = [key for key in keys if key not in own.get("training", {})]
    assert not missing, f"{preset.name} inherits {missing} from config.yaml"
    assert {key: merged["training"][key] for key in keys} == {key: own["training"][key] for key in keys}


def test_rule_parameters_leave_out_what_does_not_change_results(config):
    config = study.coerce_to_schema(config, SCHEMA)
    fill_defaults(config)
    assert "threads" not in study.training_recipe(config)
    assert study.reference_recipe(config, "pixels") == {"input_size": config["training"]["input_size"]}
    assert "learning_rate" not in study.reference_recipe(config, "untrained")
    assert study.reference_recipe(config, "dlib") == {}  # its descriptors come from the features file
    assert set(study.scoring_settings(config)) == {"exclude_same_session", "rank1_draws"}


def test_early_stopping_keys_enter_a_runs_recipe_only_away_from_their_defaults(config):
    config = study.coerce_to_schema(config, SCHEMA)
    fill_defaults(config)
    assert not {"early_stopping", "min_epochs"} & set(study.training_recipe(config))  # committed runs rerun nothing
    config["training"].update(early_stopping="resolved", min_epochs=2)
    recipe = study.training_recipe(config)
    assert (recipe["early_stopping"], recipe["min_epochs"]) == ("resolved", 2)


def test_head_recipes_carry_the_head_keys_and_image_recipes_do_not(config):
    config = study.coerce_to_schema(config, SCHEMA)
    fill_defaults(config)
    assert not set(study.HEAD_KEYS) & set(study.training_recipe(config))
    assert not set(study.HEAD_KEYS) & set(study.reference_recipe(config, "untrained"))
    config["training"]["backbone"] = "head"
    assert set(study.HEAD_KEYS) <= set(study.training_recipe(config))
    assert set(study.HEAD_KEYS) <= set(study.reference_recipe(config, "untrained"))
    assert study.HEAD_RECIPE_KEYS == (
        "backbone",
        "features",
        "head_hidden",
        "head_projection",
        "embedding_dim",
        "batch_identities",
        "images_per_identity",
        "mining",
        "learning_rate",
    )


def test_a_head_caches_its_descriptors_even_without_their_reference(config):
    fill_defaults(config)
    config["references"] = ["pixels"]
    assert study.feature_extractors(config) == []
    config["training"]["backbone"] = "head"
    assert study.feature_extractors(config) == ["dlib"]
    config["references"] = ["pixels", "dlib"]
    assert study.feature_extractors(config) == ["dlib"]


def test_a_head_with_inception_weights_is_a_config_error(config):
    fill_defaults(config)
    config["training"].update(backbone="head", pretrained="vggface2")
    with pytest.raises(study.ConfigError, match="pretrained: none"):
        study.check_study(config)


def test_a_fold_units_job_holds_every_planned_run_of_that_unit(config):
    from emoverify.layout import Layout, Run

    config["training"]["backbone"] = "head"
    config.update(batch_heads=True, seeds=[0, 1], repeats=2, label_sources=["manual", "shuffled"])
    study.check_study(config)
    members = study.unit_members(config)
    for repeat in range(2):
        for fold in range(config["folds"]):
            unit = [run for run in study.planned_runs(config) if (run.repeat, run.fold) == (repeat, fold)]
            assert [(r.method, r.label_source, r.seed) for r in unit] == [
                (m.method, m.label_source, m.seed) for m in members
            ]
    job_runs = study.unit_job_runs(config)
    assert len(job_runs) == len(members) == (3 + 3 * 2) * 2  # 3 baselines, 3 aux methods x 2 sources; 2 seeds
    pdp = next(run for run in job_runs if run["method"] == "tl_pdp" and run["label_source"] == "shuffled")
    assert pdp["spec"] == study.run_method_spec(config, "tl_pdp") and pdp["training"]["backbone"] == "head"
    assert pdp["label_params"] == study.label_params(config, "shuffled")
    layout = Layout("x")
    outputs = layout.unit_outputs("model.pt", members)
    assert outputs[0] == "results/x/runs/tl/none/repeat{repeat}/fold{fold}/seed0/model.pt"
    assert outputs[0].format(repeat=1, fold=2) == layout.run_file(Run("tl", "none", 2, 0, repeat=1), "model.pt")
    assert layout.unit_log("train") == "results/x/logs/train/heads_repeat{repeat}_fold{fold}.log"


def test_batch_heads_needs_a_head_and_holds_the_seeds_itself(config):
    config["batch_heads"] = True
    with pytest.raises(study.ConfigError, match="batch_heads .* needs training.backbone: head"):
        study.check_study(config)
    config["training"]["backbone"], config["batch_seeds"] = "head", True
    with pytest.raises(study.ConfigError, match="set batch_seeds: false"):
        study.check_study(config)


def tuned_plan(config: dict, preset: str, data_root: Path) -> tuple[dict, list]:
    """A dataset preset + overlays/tuned.yaml over config.yaml, validated and budget-checked as the Snakefile
    does (equal budgets, every configured setting a grid point), and its planned runs."""
    presets = ROOT / "workflow" / "presets"
    merged = merged_over_default(config, presets / preset, presets / "overlays" / "tuned.yaml")
    fill_defaults(merged)
    merged["data_root"] = str(data_root)
    study.check_study(merged)
    assert merged["tuning"]["enabled"] and merged["repeats"] == 1
    return merged, study.planned_runs(merged)


def test_the_tuned_ckplus48_study_is_the_protocol_its_preset_costs(config, tmp_path):
    """CK+48 + overlays/tuned.yaml: two candidates per method and baseline over 12 methods, three label sources
    for the expression methods, one repeat of 5 folds: 300 trainings, as many as the untuned preset's."""
    merged, runs = tuned_plan(config, "ckplus48.yaml", tmp_path)
    assert len(runs) == (3 + 9 * 3) * 2 * 5
    per_method: dict[str, set] = {}
    for run in runs:
        per_method.setdefault(run.method.split("__")[0], set()).add(run.method)
    assert len(per_method) == 12 and {len(names) for names in per_method.values()} == {2}


def test_the_tuned_jaffe_study_trains_only_the_fallback_settings(config, tmp_path):
    """JAFFE + overlays/tuned.yaml: no fold can rank candidates (2 validation people), so each method's grid is
    its configured setting alone and the tuned study costs what the untuned one does at one repeat."""
    merged, runs = tuned_plan(config, "jaffe.yaml", tmp_path)
    assert len(runs) == (3 + 9 * 3) * 5
    for method in merged["run_methods"]:
        (candidate,) = grid.method_candidates(merged, method)
        assert candidate == grid.default_candidate(merged, method)


# The fine-tune regime (backbone dlib_resnet): its keys, their allowed values and clear errors, and what its runs
# depend on (and what the other backbones' runs do not).


def finetuned(config, **training):
    config["training"].update({"backbone": "dlib_resnet", "embedding_dim": 128, **training})
    return config


def test_the_schema_lists_the_levels_and_defaults_to_the_last_one(config):
    training = SCHEMA["properties"]["training"]["properties"]
    assert training["finetune"]["enum"] == list(registry.FINETUNE_LEVELS) == ["level0", "level1", "level2", "all"]
    assert config["training"]["finetune"] == "level0" and config["training"]["dlib_weights"] == ""
    assert "dlib_resnet" in training["backbone"]["enum"]


def test_a_level_outside_the_list_is_a_config_error_naming_the_key_and_the_levels(config):
    config["training"]["finetune"] = "level3"
    with pytest.raises(study.ConfigError) as error:
        study.check_schema(config, SCHEMA)
    assert "training.finetune" in str(error.value) and "'level0', 'level1', 'level2', 'all'" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"embedding_dim": 64}, "dlib's fc layer, 128 dimensions: set training.embedding_dim: 128"),
        ({"pretrained": "vggface2"}, "starts from dlib's weights.*set pretrained: none"),
        ({"dlib_weights": "/nowhere/net.dat"}, "training.dlib_weights names '/nowhere/net.dat', which is not a file"),
    ],
)
def test_what_a_finetuned_dlib_network_cannot_be_is_named(config, change, message):
    finetuned(config, **change)
    with pytest.raises(study.ConfigError, match=message):
        study.check_study(config)


def test_batch_heads_holds_finetune_runs_too(config):
    finetuned(config)
    config["batch_heads"] = True
    study.check_study(config)
    config["training"]["backbone"] = "compact"
    with pytest.raises(study.ConfigError, match="needs training.backbone: head or dlib_resnet"):
        study.check_study(config)


def test_only_finetune_runs_depend_on_the_finetune_keys(config):
    for key in study.DLIB_KEYS:  # an image or head study's runs and references rerun nothing when they are set
        assert key not in study.training_recipe(config) and key not in study.reference_recipe(config, "untrained")
    finetuned(config, finetune="level1")
    recipe = study.training_recipe(config)
    assert recipe["finetune"] == "level1" and recipe["dlib_weights"] == ""
    assert set(study.DLIB_KEYS) <= set(study.reference_recipe(config, "untrained"))  # the untrained net's input
    assert not set(study.HEAD_KEYS) & set(recipe)
    assert study.recipe_keys("dlib_resnet") == study.DLIB_RECIPE_KEYS and "finetune" in study.DLIB_RECIPE_KEYS


def test_a_finetune_study_describes_with_dlib_whatever_its_references(config):
    config["references"] = ["pixels", "untrained"]
    assert study.feature_extractors(config) == [] and not study.keeps_dlib_chips(config)
    finetuned(config, finetune="all")
    assert study.feature_extractors(config) == ["dlib"] and study.keeps_dlib_chips(config)
    assert study.finetune_level(config) == "all"


def test_the_weight_file_is_the_configured_one_or_the_package_one(config, tmp_path):
    pytest.importorskip("dlib")
    finetuned(config)
    assert Path(study.dlib_weights_file(config)).name == "dlib_face_recognition_resnet_model_v1.dat"
    own = tmp_path / "mine.dat"
    own.write_bytes(b"")
    config["training"]["dlib_weights"] = str(own)
    assert study.dlib_weights_file(config) == str(own)
