"""Training: the loop, optimizers and schedules."""

from kwslab.training.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
