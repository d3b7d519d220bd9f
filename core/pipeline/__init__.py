"""The pipeline, one sub-package per phase, in the order they run:

p1_clips -> p2_augmentation -> p3_features -> p4_training -> p5_export -> p6_evaluation

:mod:`core.pipeline.phases` names them once (light, no heavy imports); :mod:`core.pipeline.orchestrator`
runs them in that order, skipping a phase whose inputs and settings have not changed."""
