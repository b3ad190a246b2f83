"""One evaluation job: the runs it holds (one, or every seed of a group with ``batch_seeds``), each scored
exactly as alone, the fold's faces loaded once per input size."""

from __future__ import annotations

from types import SimpleNamespace

from emoverify.evaluation import manipulation, pretrained, verification
from emoverify.layout import Run, job_paths
from emoverify.model import checkpoint


def evaluate_runs(
    runs: list[Run], model_paths: list, outputs: list[SimpleNamespace], load_faces, *, device, evaluation, truth=None
):
    """Score each trained run on its fold; ``load_faces(input_size)`` gives the val and test faces (and the
    train faces with ``truth``).

    ``outputs[i]`` has the ``embeddings`` and ``metrics`` paths of ``runs[i]``; with ``truth`` (the study's
    true labels, manipulation.Truth) also ``manipulation``, the run's manipulation check.
    """
    faces_by_size: dict[int, dict] = {}
    for run, model_path, output in zip(runs, model_paths, outputs, strict=True):
        model, state = checkpoint.load_checkpoint(model_path, device)
        if model is None:
            print(f"{run.path}: training failed, nothing to evaluate: {state['failed']}")
            verification.record_failed_run(output, run, state["failed"], state["method"]["geometry"])
            _record_failed_check(output, run, truth, f"failed: {state['failed']}")
            continue
        size = int(state["training"]["input_size"])
        if size not in faces_by_size:
            faces_by_size[size] = load_faces(size)
        faces = faces_by_size[size]
        embeddings = verification.embed_splits(model, faces, device)
        facts = {"training": checkpoint.training_facts(state)}
        values = verification.score_and_save(
            embeddings, faces, run, geometry=model.geometry, evaluation=evaluation, outputs=output, extra=facts
        )
        print(f"{run.path}: {values} {facts}", flush=True)
        if truth is None:
            continue
        if not values:
            _record_failed_check(output, run, truth, "not scored: see metrics.json")
            continue
        checked = manipulation.check_run(output.manipulation, run, embeddings, faces, truth, state["training"])
        print(f"{run.path}: manipulation check {checked}", flush=True)


def _record_failed_check(output, run: Run, truth, reason: str) -> None:
    if truth is not None:
        manipulation.write_record(output.manipulation, run, truth_source=truth.source, values={}, status=reason)


def evaluate_references(
    runs: list[Run], outputs: list[SimpleNamespace], faces, recipe: dict, *, device, evaluation, features=None
):
    """Score the pixel, untrained-network or pretrained-recognizer reference of each run (one per seed) on the
    same faces; ``features`` is the features stage's file of a pretrained recognizer."""
    for run, output in zip(runs, outputs, strict=True):
        if run.method in pretrained.GEOMETRY:
            embeddings = pretrained.fold_embeddings(features, faces)
        elif run.method == "pixels":
            embeddings = {split: verification.pixel_embeddings(faces[split]) for split in faces}
        else:
            model = verification.untrained_model(recipe, run.seed, device)
            embeddings = verification.embed_splits(model, faces, device)
        # pixels and the untrained net are scored on the sphere (cosine), like the spherical runs; a pretrained
        # recognizer with its own metric (dlib: Euclidean)
        values = verification.score_and_save(
            embeddings,
            faces,
            run,
            geometry=pretrained.GEOMETRY.get(run.method, "spherical"),
            evaluation=evaluation,
            outputs=output,
            extra={"reference": True},
        )
        print(f"{run.path}: {values}", flush=True)


def output_pairs(embeddings, metrics, manipulation=None) -> list[SimpleNamespace]:
    """A rule's embeddings and metrics outputs (one path each, or lists with batch_seeds), run by run, and
    the manipulation checks' where the rule writes them."""
    pairs = zip(job_paths(embeddings), job_paths(metrics), strict=True)
    outputs = [SimpleNamespace(embeddings=e, metrics=m) for e, m in pairs]
    if manipulation is not None:
        for output, path in zip(outputs, job_paths(manipulation), strict=True):
            output.manipulation = path
    return outputs


def evaluate_unit(
    members: list[dict], model_paths: list, outputs: list[SimpleNamespace], load_faces, *, repeat, fold, **settings
):
    """Score every head run of one fold unit (``batch_heads``), each exactly as its standalone job does;
    ``load_faces(label_params, input_size)`` gives the val and test faces, loaded once per label source."""
    faces: dict[tuple, dict] = {}

    def cached(label_params):
        def load(size):
            key = (repr(sorted(label_params.items())), size)
            if key not in faces:
                faces[key] = load_faces(label_params, size)
            return faces[key]

        return load

    for member, model_path, output in zip(members, model_paths, outputs, strict=True):
        run = Run(member["method"], member["label_source"], fold, member["seed"], repeat=repeat)
        evaluate_runs([run], [model_path], [output], cached(member["label_params"]), **settings)
