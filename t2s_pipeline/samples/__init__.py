"""Sample building: chat prompts, trajectories, splits."""
