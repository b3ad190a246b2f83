"""The recipe search reads development people only, and writes what it read and what it chose."""

import pandas as pd
import pytest
import yaml

from emoverify.splits.folds import DEVELOPMENT, development_identities, make_repeated_folds
from emoverify.tuning import recipe, recipe_search

PARTITION = {"dataset": "tiny", "development_fraction": 0.25, "development_seed": 2}


def manifest(n_identities=24):
    rows = [
        {"image_id": f"p{p}_{i}", "identity": f"p{p}", "status": "ok"} for p in range(n_identities) for i in range(3)
    ]
    return pd.DataFrame(rows)


def candidate(folder, folds, figures):
    """A candidate experiment: its manifest, its folds and one tl history per fold."""
    (folder / "faces").mkdir(parents=True)
    (folder / "splits").mkdir()
    manifest().to_csv(folder / "faces" / "manifest.csv", index=False)
    folds.to_csv(folder / "splits" / "folds.csv", index=False)
    for fold, value in enumerate(figures):
        run = folder / "runs" / "tl" / "none" / "repeat0" / f"fold{fold}" / "seed0"
        run.mkdir(parents=True)
        history = {"epoch": [1, 2], "total": 1.0, "val_auc": 0.9, "val_tar_at_far_1e-2": [value - 0.1, value]}
        pd.DataFrame(history).to_csv(run / "history.csv", index=False)


def development_folds(**extra):
    return make_repeated_folds(
        manifest(), n_folds=2, repeats=1, seed=0, partition=DEVELOPMENT, **{**_partition_keys(), **extra}
    )


def _partition_keys():
    return {
        "development_fraction": PARTITION["development_fraction"],
        "development_seed": PARTITION["development_seed"],
    }


def test_the_search_reads_development_people_only_and_writes_its_choice(tmp_path):
    folds = development_folds()
    candidate(tmp_path / "a", folds, [0.5, 0.6])
    candidate(tmp_path / "b", folds, [0.7, 0.8])
    table, read = recipe_search.choose({"a": tmp_path / "a", "b": tmp_path / "b"}, PARTITION, "tl", "tar_at_far_1e-2")
    expected = development_identities(manifest(), fraction=0.25, seed=2)
    assert read == expected and len(read) == 6
    assert table.loc[table["chosen"], "candidate"].tolist() == ["b"]
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "b.yaml").write_text("training: {width: 32}\n")
    recipe_search.write_choice(tmp_path / "out", table, read, PARTITION, "python -m ...", recipes)
    assert pd.read_csv(tmp_path / "out" / "identities.csv")["identity"].tolist() == expected
    chosen = yaml.safe_load((tmp_path / "out" / "chosen.yaml").read_text())
    assert chosen["chosen"] == "b" and chosen["recipe"] == {"training": {"width": 32}}
    assert chosen["development_fraction"] == 0.25 and chosen["development_people"] == 6
    assert chosen["candidates"]["b"]["validation_mean"] == pytest.approx(0.75)


def test_a_search_given_a_non_development_person_fails(tmp_path):
    folds = development_folds()
    development = set(development_identities(manifest(), fraction=0.25, seed=2))
    outsider = next(f"p{p}" for p in range(24) if f"p{p}" not in development)
    leaked = folds.copy()
    leaked.loc[leaked.index[0], "identity"] = outsider  # one study person in a candidate's folds
    candidate(tmp_path / "a", folds, [0.5, 0.6])
    candidate(tmp_path / "b", leaked, [0.7, 0.8])
    with pytest.raises(recipe.RecipeError, match=f"outside the development partition.*{outsider}"):
        recipe_search.choose({"a": tmp_path / "a", "b": tmp_path / "b"}, PARTITION, "tl", "tar_at_far_1e-2")
    study = make_repeated_folds(manifest(), n_folds=2, repeats=1, seed=0, **_partition_keys())
    candidate(tmp_path / "c", study, [0.7, 0.8])  # the study's folds: everyone else trains there
    with pytest.raises(recipe.RecipeError, match="train the candidates with partition=development"):
        recipe.identities_read(tmp_path / "c", development)


def test_a_preset_without_a_development_partition_cannot_be_searched():
    with pytest.raises(recipe_search.RecipeSearchError, match="another dataset's development people"):
        recipe_search.partition_of("jaffe")
    assert recipe_search.partition_of("ckplus48")["development_fraction"] > 0
    names = recipe_search.candidates("ckplus48")
    assert names[0] == "emb64" and len(names) == len(set(names)) > 2


def test_later_candidates_reuse_the_first_candidates_faces_by_hard_link(tmp_path):
    first, later = tmp_path / "first", tmp_path / "later"
    (first / "faces" / "cache").mkdir(parents=True)
    (first / "faces" / "cache" / "a.png").write_bytes(b"face")
    (first / "features").mkdir()
    (first / "features" / "dlib.npz").write_bytes(b"descriptors")
    (first / "runs").mkdir()  # a candidate's own trainings are never shared
    (later / "features").mkdir(parents=True)  # what a candidate already has is left as it is
    assert recipe_search.seed_shared_stages(first, later) == ["faces"]
    linked = later / "faces" / "cache" / "a.png"
    assert linked.stat().st_ino == (first / "faces" / "cache" / "a.png").stat().st_ino
    assert not (later / "runs").exists() and not (later / "features" / "dlib.npz").exists()


def test_a_seed_outside_the_search_folder_is_refused_before_any_work(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere" / "results" / "lfw_emotion_pretrained"
    elsewhere.mkdir(parents=True)
    workdir = tmp_path / "search"
    arguments = ["--dataset", "ckplus48", "--data-root", str(tmp_path), "--workdir", str(workdir)]
    code = recipe_search.main([*arguments, "--seed-from", str(elsewhere)])
    assert code == 2 and "must be an experiment folder in" in capsys.readouterr().err
    assert not workdir.exists()
