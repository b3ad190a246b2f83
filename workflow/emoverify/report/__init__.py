"""Report stage: the per-run table, summaries and paired tests, and the figures."""
