"""Dataset stage: adapters that turn a dataset on disk into one image table, the drawn demo, robust image reading."""
