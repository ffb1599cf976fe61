"""The training failure that SageMaker reports as the job's FailureReason."""

import os
from pathlib import Path

# DescribeTrainingJob returns at most 1024 characters of FailureReason (SageMaker API reference).
MAX_FAILURE_LENGTH = 1024


class TrainingError(Exception):
    """A failure that the user can fix, such as bad data or an unsupported hyperparameter."""


def output_dir() -> Path:
    return Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))


def write_failure(message: str) -> Path:
    """Write `message` to `$SM_OUTPUT_DIR/failure`, where SageMaker reads the failure reason."""
    folder = output_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "failure"
    path.write_text(message[:MAX_FAILURE_LENGTH], encoding="utf-8")
    return path
