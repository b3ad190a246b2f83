"""Validation-only tuning: grid candidates, their selection, and the winners' place in the report."""
