"""A project: its settings, workspace layout, lock, status, model card and the wake-word check."""
