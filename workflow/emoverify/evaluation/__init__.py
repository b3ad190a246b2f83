"""Evaluation stage: verification on a fold's unseen people, scored and written per run."""
