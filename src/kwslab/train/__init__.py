"""Training: the loop, optimizers and schedules."""

from kwslab.train.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
