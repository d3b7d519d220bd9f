"""Phase 1, clips: processed recordings, synthetic wake words, near misses, negative speech and sounds."""
