"""Training stage: the combined objective, the P x K sampler and the training loop."""
