"""Private: what users pass (matrices, frames, labels, categories, targets), coded for the model."""
