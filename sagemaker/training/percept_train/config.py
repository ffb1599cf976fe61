"""Hyperparameters and the SageMaker environment of one training run."""

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from percept_train.errors import TrainingError

CLASSIFIER_BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
)
DETECTOR_BACKBONES = ("ssdlite320_mobilenet_v3_large",)
MODEL_TYPES = ("visual-classifier", "visual-detector")
AUGMENTATIONS = ("none", "light", "strong")

# Five /2 stages take the smallest input, 32 pixels, to a 1 x 1 feature map.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024

# Same rule as functions/commons/models/manifest.ts applies to manifest ids.
MODEL_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Hyperparameters:
    model_type: str
    backbone: str
    image_size: int
    epochs: int
    learning_rate: float
    batch_size: int
    augmentation: str
    holdout_fraction: float
    seed: int
    pretrained: bool
    num_workers: Optional[int]
    model_id: str
    model_name: str


@dataclass(frozen=True)
class Environment:
    """Folders that SageMaker mounts into the container (set by the local stand-in when run locally)."""

    images_dir: Path
    labels_dir: Path
    model_dir: Path
    output_dir: Path
    num_gpus: int


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises TrainingError, so that bad flags reach the failure file."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise TrainingError(f"Invalid hyperparameters: {message}. Run train.py --help for the accepted values.")


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="train.py",
        description=(
            "Train an image classifier (or a detector) on the labelled images in SM_CHANNEL_IMAGES and "
            "SM_CHANNEL_LABELS, evaluate it on a held-out split and write model.onnx, manifest.json, "
            "metrics.json and reference.json to SM_MODEL_DIR. SageMaker passes each hyperparameter as "
            "--key value."
        ),
    )

    # What to train.
    parser.add_argument("--model_type", choices=MODEL_TYPES, default="visual-classifier")
    parser.add_argument(
        "--backbone",
        default=None,
        help=(
            f"torchvision network. Classifiers: {', '.join(CLASSIFIER_BACKBONES)}. "
            f"Detectors: {', '.join(DETECTOR_BACKBONES)}. Default: the first of the list for the model type."
        ),
    )
    parser.add_argument("--image_size", type=int, default=224, help="Side of the square model input in pixels, 32 to 1024.")
    parser.add_argument(
        "--pretrained",
        type=_boolean,
        default=False,
        help="true: start from torchvision's ImageNet weights, which need a download from download.pytorch.org.",
    )

    # How to train.
    parser.add_argument("--epochs", type=int, default=20, help="Passes over the training split.")
    parser.add_argument("--learning_rate", type=float, default=1e-3, help="Peak AdamW learning rate (warm-up, then cosine decay).")
    parser.add_argument("--batch_size", type=int, default=32, help="Images per optimizer step.")
    parser.add_argument(
        "--augmentation",
        choices=AUGMENTATIONS,
        default="light",
        help="none: resize only. light: random resized crop and horizontal flip. strong: also colour jitter, "
        "grayscale and vertical flip. Detectors get the horizontal flip, plus colour jitter with strong.",
    )
    parser.add_argument(
        "--holdout_fraction",
        type=float,
        default=0.2,
        help="Share of the images of each concept held out for the metrics, above 0 and at most 0.5.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the split, the weight initialization and the augmentation.")
    parser.add_argument(
        "--num_workers",
        type=int,
        default=None,
        help="Data loader processes. Default: up to 8 with a GPU, 0 (load in the main process) without.",
    )

    # What to write into manifest.json.
    parser.add_argument("--model_id", default="deep-trained-model", help="Model id, lower-case kebab-case.")
    parser.add_argument("--model_name", default="Deep trained model", help="Model name.")
    return parser


def parse_hyperparameters(argv: Sequence[str]) -> Hyperparameters:
    """Parse the flags and check their ranges. Raises TrainingError naming the bad value."""
    parser = build_parser()
    namespace, unknown = parser.parse_known_args(list(argv))
    # The SageMaker training toolkit can pass its own sagemaker_* settings as hyperparameters.
    rejected = [flag for flag in unknown if flag.startswith("--") and not flag.startswith("--sagemaker_")]
    if rejected:
        raise TrainingError(
            f"Unknown hyperparameters: {', '.join(rejected)}. Run train.py --help for the accepted flags."
        )

    model_type = namespace.model_type
    supported = CLASSIFIER_BACKBONES if model_type == "visual-classifier" else DETECTOR_BACKBONES
    backbone = namespace.backbone if namespace.backbone is not None else supported[0]
    if backbone not in supported:
        raise TrainingError(
            f"Backbone {backbone!r} is not supported for {model_type}. Use one of: {', '.join(supported)}."
        )

    problems: List[str] = []
    if not MIN_IMAGE_SIZE <= namespace.image_size <= MAX_IMAGE_SIZE:
        problems.append(f"image_size must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {namespace.image_size}")
    if namespace.epochs < 1:
        problems.append(f"epochs must be at least 1, got {namespace.epochs}")
    if not namespace.learning_rate > 0:
        problems.append(f"learning_rate must be above 0, got {namespace.learning_rate}")
    if namespace.batch_size < 1:
        problems.append(f"batch_size must be at least 1, got {namespace.batch_size}")
    if not 0 < namespace.holdout_fraction <= 0.5:
        problems.append(f"holdout_fraction must be above 0 and at most 0.5, got {namespace.holdout_fraction}")
    if namespace.num_workers is not None and namespace.num_workers < 0:
        problems.append(f"num_workers must be 0 or more, got {namespace.num_workers}")
    if not MODEL_ID_PATTERN.match(namespace.model_id):
        problems.append(f"model_id must be lower-case kebab-case of at most 63 characters, got {namespace.model_id!r}")
    if problems:
        raise TrainingError(f"Invalid hyperparameters: {'; '.join(problems)}.")

    return Hyperparameters(
        model_type=model_type,
        backbone=backbone,
        image_size=namespace.image_size,
        epochs=namespace.epochs,
        learning_rate=namespace.learning_rate,
        batch_size=namespace.batch_size,
        augmentation=namespace.augmentation,
        holdout_fraction=namespace.holdout_fraction,
        seed=namespace.seed,
        pretrained=namespace.pretrained,
        num_workers=namespace.num_workers,
        model_id=namespace.model_id,
        model_name=namespace.model_name,
    )


def _required_folder(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise TrainingError(f"Environment variable {variable} is not set. Set it to the folder of that channel.")
    folder = Path(value)
    if not folder.is_dir():
        raise TrainingError(f"{variable} is {value}, which is not a folder.")
    return folder


def read_environment() -> Environment:
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    model_dir.mkdir(parents=True, exist_ok=True)
    return Environment(
        images_dir=_required_folder("SM_CHANNEL_IMAGES"),
        labels_dir=_required_folder("SM_CHANNEL_LABELS"),
        model_dir=model_dir,
        output_dir=Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")),
        num_gpus=int(os.environ.get("SM_NUM_GPUS", "0") or "0"),
    )
