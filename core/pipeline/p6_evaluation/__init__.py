"""Phase 6, evaluation: recall, false accepts per hour, the threshold and the model card."""
