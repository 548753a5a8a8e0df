"""Request and response bodies of the HTTP service (they document themselves at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Latency(BaseModel):
    """Server-side time per step, in milliseconds."""

    decode_ms: float = Field(description="reading the upload into 16 kHz mono samples")
    inference_ms: float = Field(description="features + model")
    total_ms: float = Field(description="from the handler's start to the response")


class Recognition(BaseModel):
    """The recognised word of one clip."""

    label: str = Field(description="the most probable label")
    probabilities: dict[str, float] = Field(description="every label's probability, in order")
    duration_s: float = Field(description="length of the decoded audio (the model hears 1 s)")
    warning: str | None = Field(
        default=None, description="why the label may mean little: a clip that is too short, "
        "silent, or beyond [-1, 1]; or that a silent clip was labelled _silence_ without the "
        "model; absent for an ordinary clip")
    latency: Latency


class ModelInfo(BaseModel):
    """What the service runs."""

    labels: list[str]
    sample_rate: int
    variant: str = Field(description="fp32 or int8")
    input_shape: list[Any]
    features: dict[str, Any]
    model_card: dict[str, Any]
    config: dict[str, Any]
    export: dict[str, Any] = Field(description="format version, opset, files, versions")
    max_upload_bytes: int


class Health(BaseModel):
    status: str
    model_loaded: bool


class ErrorBody(BaseModel):
    """Every error, whatever the status code."""

    error: str = Field(description="one-line explanation")
    status: int
    detail: list[Any] | None = Field(default=None, description="validation details (422)")
