"""Splits stage: identity-disjoint folds, and loading one fold's faces with a run's label source."""
