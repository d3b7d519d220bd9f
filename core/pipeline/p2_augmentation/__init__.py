"""Phase 2, augmentation: rooms, background noise, pitch, tempo and gain on every clip."""
