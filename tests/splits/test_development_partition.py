"""The development partition's draws: ``hash`` moves nobody else when one person's faces change, ``sorted`` (the
committed studies' draw) can; and a study stops when the people it draws are not those its recipe recorded."""

import hashlib

import pandas as pd
import pytest

from emoverify import study
from emoverify.splits.development_record import DevelopmentMismatchError, check_recorded, read_recorded
from emoverify.splits.folds import (
    DEVELOPMENT,
    SplitError,
    development_draw,
    development_identities,
    hash_position,
    make_repeated_folds,
)


def faces_table(n_identities=60, per_identity=3):
    rows = [
        {"image_id": f"p{p:03d}_{i}", "identity": f"p{p:03d}", "status": "ok"}
        for p in range(n_identities)
        for i in range(per_identity)
    ]
    return pd.DataFrame(rows)


def losing_faces(table, person, keep=1):
    """``table`` where ``person`` keeps ``keep`` usable faces (the others rejected by the faces stage)."""
    table = table.copy()
    rows = table.index[table["identity"] == person][keep:]
    table.loc[rows, "status"] = "no face"
    return table


def test_hash_position_is_sha256_of_seed_and_name():
    digest = hashlib.sha256(b"7\0alice").digest()
    assert hash_position(7, "alice") == int.from_bytes(digest[:8], "big") / 2**64
    assert 0 <= hash_position(0, "bob") < 1 and hash_position(0, "bob") != hash_position(1, "bob")


@pytest.mark.parametrize("seed", [0, 3])
def test_hash_partition_unchanged_for_everyone_else_when_a_persons_faces_change(seed):
    table = faces_table()
    before = set(development_identities(table, fraction=0.25, seed=seed, draw="hash"))
    assert 4 <= len(before) < 60
    for person in sorted(set(table["identity"])):
        after = set(development_identities(losing_faces(table, person), fraction=0.25, seed=seed, draw="hash"))
        assert after == before - {person}, person  # below two usable faces: out, and nobody else moves
    newcomer = pd.DataFrame([{"image_id": f"new_{i}", "identity": "new", "status": "ok"} for i in range(2)])
    grown = set(development_identities(pd.concat([table, newcomer]), fraction=0.25, seed=seed, draw="hash"))
    assert grown - {"new"} == before  # a new person joins or not, alone


def test_sorted_partition_moves_others_when_one_person_drops_out():
    """Why hash exists: under sorted, one person falling below two usable faces reindexes the list."""
    table = faces_table()
    before = set(development_identities(table, fraction=0.25, seed=0))
    moved = [
        person
        for person in sorted(set(table["identity"]))
        if set(development_identities(losing_faces(table, person), fraction=0.25, seed=0)) - before
    ]
    assert moved  # some drop-out brings in people who were not development people


def test_hash_draw_takes_about_the_fraction_and_keeps_the_eligibility_rule():
    people = [f"person{i}" for i in range(4000)]
    drawn = development_draw(people, fraction=0.1, seed=0, draw="hash")
    assert abs(len(drawn) / len(people) - 0.1) < 0.015 and drawn == sorted(drawn)
    assert development_draw(people, fraction=0.0, seed=0, draw="hash") == []
    table = faces_table(40)
    single = losing_faces(table, "p000")
    everyone = [f"p{p:03d}" for p in range(40)]
    in_draw = hash_position(0, "p000") < 0.9
    assert in_draw == ("p000" in development_draw(everyone, fraction=0.9, seed=0, draw="hash"))
    assert "p000" not in development_identities(single, fraction=0.9, seed=0, draw="hash")


def test_hash_partition_holds_the_drawn_people_out_of_every_fold():
    table = faces_table()
    folds = make_repeated_folds(
        table, n_folds=3, repeats=2, seed=0, development_fraction=0.25, development_seed=1, development_partition="hash"
    )
    development = set(development_identities(table, fraction=0.25, seed=1, draw="hash"))
    assert set(folds.loc[folds["split"] == DEVELOPMENT, "identity"]) == development
    assert not set(folds.loc[folds["split"] != DEVELOPMENT, "identity"]) & development


def drawn_count(people, seed):
    return len(development_draw(people, fraction=0.2, seed=seed, draw="hash"))


def test_too_few_or_an_unknown_draw_is_refused_naming_the_keys():
    table, everyone = faces_table(12), [f"p{p:03d}" for p in range(12)]
    for few in range(4):  # a seed drawing none, then one, two and three of the twelve
        seed = next(s for s in range(10_000) if drawn_count(everyone, s) == few)
        with pytest.raises(SplitError, match=rf"sets aside {few} of 12 identities \(development_partition hash"):
            development_identities(table, fraction=0.2, seed=seed, draw="hash")
    with pytest.raises(SplitError, match="development_partition must be one of"):
        development_draw(["a", "b"], fraction=0.5, seed=0, draw="random")


def record(people, path="workflow/presets/recipes/x/identities.csv"):
    return {"path": path, "people": sorted(people)}


PARTITION = {"development_partition": "sorted", "development_fraction": 0.25, "development_seed": 0}


def test_a_study_stops_when_one_persons_faces_moved_its_partition_naming_who_differs():
    table = faces_table()
    recorded = development_identities(table, fraction=0.25, seed=0)
    check_recorded(recorded, record(recorded), PARTITION)  # the same people: nothing to say
    check_recorded(recorded, None, PARTITION)  # no record: nothing to check
    leaver = next(
        person
        for person in sorted(set(table["identity"]) - set(recorded))
        if development_identities(losing_faces(table, person), fraction=0.25, seed=0) != recorded
    )
    drawn = development_identities(losing_faces(table, leaver), fraction=0.25, seed=0)
    gone, new = sorted(set(recorded) - set(drawn)), sorted(set(drawn) - set(recorded))
    with pytest.raises(DevelopmentMismatchError) as stopped:
        check_recorded(drawn, record(recorded), PARTITION)
    message = str(stopped.value)
    assert f"In the recipe, not in this study ({len(gone)}): {', '.join(gone[:10])}" in message
    assert f"In this study, not in the recipe ({len(new)}): {', '.join(new[:10])}" in message
    assert "re-search the recipe" in message and "restore the data" in message
    assert "workflow/presets/recipes/x/identities.csv" in message and "development_seed 0" in message


def test_the_stop_names_one_person_on_each_side():
    with pytest.raises(DevelopmentMismatchError, match=r"not in this study \(1\): bob\. In this study, not in the "):
        check_recorded(["alice", "carol"], record(["alice", "bob"]), PARTITION)
    with pytest.raises(DevelopmentMismatchError, match=r"in this study \(0\): nobody\. .*not in the recipe \(1\): c"):
        check_recorded(["a", "b", "c"], record(["a", "b"]), PARTITION)


def test_the_study_plan_reads_the_recorded_people_or_names_the_key(tmp_path):
    (tmp_path / "recipes").mkdir()
    pd.DataFrame({"identity": ["b", "a"]}).to_csv(tmp_path / "recipes" / "identities.csv", index=False)
    read = study.recipe_record({"recipe_identities": "recipes/identities.csv"}, tmp_path)
    assert read == {"path": "recipes/identities.csv", "people": ["a", "b"]}
    assert study.recipe_record({"recipe_identities": ""}, tmp_path) is None
    assert read_recorded(tmp_path / "recipes" / "identities.csv") == ["a", "b"]
    with pytest.raises(study.ConfigError, match="the config key recipe_identities names 'nowhere.csv'"):
        study.recipe_record({"recipe_identities": "nowhere.csv"}, tmp_path)
    pd.DataFrame({"person": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(study.ConfigError, match="has no identity column"):
        study.recipe_record({"recipe_identities": str(tmp_path / "bad.csv")}, tmp_path)


@pytest.mark.parametrize("preset", ["ckplus48", "lfw_emotion_pretrained"])
def test_presets_name_their_recipes_record(preset):
    import yaml

    root = study_root()
    config = yaml.safe_load((root / "workflow" / "presets" / f"{preset}.yaml").read_text())
    recorded = study.recipe_record(config, root)
    chosen = yaml.safe_load((root / "workflow" / "presets" / "recipes" / preset / "chosen.yaml").read_text())
    assert len(recorded["people"]) == chosen["development_people"]


def study_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
