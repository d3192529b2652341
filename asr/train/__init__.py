"""Training: experiment configuration, data pipeline, checkpoints, schedules and the trainer."""
