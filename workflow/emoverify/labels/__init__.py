"""Labels stage: fer's expression classifier, the label sources a run reads, and their agreement."""
