"""Phase 3, features: openWakeWord (16, 96) embeddings of every clip and negative stream."""
