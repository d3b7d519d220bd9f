"""Assets: resumable downloads, the dataset and voice catalogues, openWakeWord's feature models."""
