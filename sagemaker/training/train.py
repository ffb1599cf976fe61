"""Train a Percept deep model in SageMaker script mode, or locally with the same environment.

Reads the labelled images from SM_CHANNEL_IMAGES and SM_CHANNEL_LABELS, trains a torchvision
network, evaluates it on a held-out split and writes model.onnx, manifest.json, metrics.json
and reference.json to SM_MODEL_DIR. On a failure it writes the reason to
$SM_OUTPUT_DIR/failure, which SageMaker reports as the job's FailureReason, and exits with 1.
README.md beside this file lists the hyperparameters.
"""

import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch

from percept_train.classifier import predict_logits, seed_everything, sigmoid, train_classifier
from percept_train.config import Environment, Hyperparameters, parse_hyperparameters, read_environment
from percept_train.data import (
    Concept,
    Example,
    check_concept_counts,
    check_images_readable,
    load_concepts,
    load_examples,
    split_holdout,
)
from percept_train.detector import train_visual_detector
from percept_train.errors import TrainingError, write_failure
from percept_train.export import (
    build_manifest,
    export_onnx,
    png_base64,
    reference_document,
    sha256_of,
    write_json,
)
from percept_train.images import load_rgb, resize_to_input, to_tensor
from percept_train.metrics import classifier_metrics
from percept_train.networks import build_classifier, select_device

logger = logging.getLogger("percept_train")

# Held-out images whose PyTorch outputs go into reference.json.
REFERENCE_IMAGES = 3
EVAL_BATCH_SIZE = 32


def _labels_matrix(examples: Sequence[Example], num_concepts: int) -> np.ndarray:
    labels = np.zeros((len(examples), num_concepts), dtype=bool)
    for row, example in enumerate(examples):
        for concept in example.positives:
            labels[row, concept] = True
    return labels


def _reference_items(
    model: torch.nn.Module, examples: Sequence[Example], images_dir: Path, image_size: int
) -> List[Dict[str, object]]:
    items = []
    for example in examples[:REFERENCE_IMAGES]:
        resized = resize_to_input(load_rgb(example.path), image_size)
        with torch.no_grad():
            logits = model(to_tensor(resized).unsqueeze(0)).numpy()[0]
        items.append(
            {
                "input_id": example.input_id,
                "image": example.path.relative_to(images_dir.resolve()).as_posix(),
                "input_png_base64": png_base64(resized),
                "logits": [float(value) for value in logits],
                "probabilities": [float(value) for value in sigmoid(logits)],
            }
        )
    return items


def train_visual_classifier(params: Hyperparameters, env: Environment, concepts: List[Concept], examples: List[Example]) -> None:
    training_indices, holdout_indices = split_holdout(examples, len(concepts), params.holdout_fraction, params.seed)
    training = [examples[i] for i in training_indices]
    holdout = [examples[i] for i in holdout_indices]
    device = select_device()
    logger.info(
        "training %s on %s: %d training and %d held-out images, %d concepts",
        params.backbone, device, len(training), len(holdout), len(concepts),
    )

    seed_everything(params.seed)
    model = build_classifier(params.backbone, len(concepts), params.pretrained)
    model = train_classifier(model, training, len(concepts), params, device)

    logits = predict_logits(model, holdout, params.image_size, EVAL_BATCH_SIZE)
    concept_ids = [concept.id for concept in concepts]
    metrics = classifier_metrics(concept_ids, sigmoid(logits), _labels_matrix(holdout, len(concepts)))
    logger.info("holdout_macro_f1=%.4f holdout_top1_accuracy=%.4f", metrics["macro"]["f1"], metrics["top1_accuracy"])

    model_path = env.model_dir / "model.onnx"
    export_onnx(model, model_path, params.image_size, ["logits"])
    origin = "ImageNet weights" if params.pretrained else "scratch"
    manifest = build_manifest(
        model_id=params.model_id,
        name=params.model_name,
        description=(
            f"{params.backbone} trained from {origin} on {len(training)} labelled images for {params.epochs} epochs "
            f"at {params.image_size} x {params.image_size} pixels, one sigmoid per concept."
        ),
        model_type_id="visual-classifier",
        onnx_sha256=sha256_of(model_path),
        image_size=params.image_size,
        output={"decoder": "sigmoid-concepts", "tensor": "logits", "scores": "logits"},
        concepts=[{"id": concept.id, "name": concept.name} for concept in concepts],
    )
    write_json(env.model_dir / "manifest.json", manifest)
    write_json(env.model_dir / "metrics.json", metrics)
    items = _reference_items(model, holdout, env.images_dir, params.image_size)
    write_json(env.model_dir / "reference.json", reference_document(items, params.image_size, ["logits"]))


def run(argv: Sequence[str]) -> None:
    started = time.monotonic()
    params = parse_hyperparameters(argv)
    env = read_environment()
    logger.info("hyperparameters %s", params)

    concepts = load_concepts(env.labels_dir)
    examples = load_examples(env.labels_dir, env.images_dir, concepts)
    by_regions = params.model_type == "visual-detector"
    check_concept_counts(concepts, examples, by_regions)
    check_images_readable(examples)

    if params.model_type == "visual-classifier":
        train_visual_classifier(params, env, concepts, examples)
    else:
        train_visual_detector(params, env, concepts, examples)
    logger.info("training finished in %.1f s, outputs in %s", time.monotonic() - started, env.model_dir)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    try:
        run(sys.argv[1:])
    except TrainingError as error:
        path = write_failure(str(error))
        logger.error("training failed: %s (reason written to %s)", error, path)
        return 1
    except Exception as error:  # noqa: BLE001 - every failure must reach the failure file
        traceback.print_exc()
        path = write_failure(f"Training failed with an unexpected error: {type(error).__name__}: {error}")
        logger.error("training failed with an unexpected error (reason written to %s)", path)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
