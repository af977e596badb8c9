"""Private: the inputs users pass (matrices, frames, labels, categories, targets) and how they are coded for the model."""
