"""Phase 4, training: the classifier head(s) on the features, resumable."""
