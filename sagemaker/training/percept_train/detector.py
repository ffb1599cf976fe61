"""Object detector: torchvision SSDlite (MobileNetV3-Large), trained and exported for Percept.

The exported graph ends in decoded boxes [N, A, 4] (x1, y1, x2, y2 in model-input pixels) and
per-concept softmax scores [N, A, C] for all A anchors. The `detection-boxes` decoder of
functions/commons/models/decoders then applies the score threshold and per-class
non-maximum suppression, as it does for the built-in detectors.
"""

import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.models.detection import ssdlite320_mobilenet_v3_large
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from percept_train.classifier import cosine_with_warmup, seed_worker, default_workers, seed_everything
from percept_train.config import Environment, Hyperparameters
from percept_train.data import Concept, Example, split_holdout
from percept_train.errors import TrainingError
from percept_train.export import (
    build_manifest,
    export_onnx,
    png_base64,
    reference_document,
    sha256_of,
    write_json,
)
from percept_train.images import MEAN, STD, load_rgb, resize_to_input, to_tensor
from percept_train.networks import pretrained_weights, select_device

logger = logging.getLogger("percept_train")

WEIGHT_DECAY = 4e-5
# Detection settings written into the manifest for the serving decoder.
SCORE_THRESHOLD = 0.3
IOU_THRESHOLD = 0.45
MAX_DETECTIONS = 100
# Held-out detections are matched to labelled boxes at this intersection over union.
MATCH_IOU = 0.5
REFERENCE_IMAGES = 3
OUTPUT_NAMES = ("boxes", "scores")


def _pixel_boxes(example: Example, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return the example's boxes in pixels of the size x size model input, and their 1-based labels."""
    if not example.regions:
        return torch.zeros((0, 4), dtype=torch.float32), torch.zeros((0,), dtype=torch.int64)
    boxes = torch.tensor([box for box, _ in example.regions], dtype=torch.float32) * size
    labels = torch.tensor([concept + 1 for _, concept in example.regions], dtype=torch.int64)
    return boxes, labels


class DetectionImages(Dataset):
    """Images stretched to size x size as 0..1 tensors, with their boxes. The model normalizes them itself."""

    def __init__(self, examples: Sequence[Example], size: int, augmentation: str):
        self.examples = list(examples)
        self.size = size
        self.flip = augmentation in ("light", "strong")
        self.jitter = (
            transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05)
            if augmentation == "strong"
            else None
        )

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        example = self.examples[index]
        try:
            image = resize_to_input(load_rgb(example.path), self.size)
        except (OSError, ValueError, SyntaxError) as error:
            raise TrainingError(f"Image of input {example.input_id} ({example.path.name}) could not be read: {error}.") from error
        boxes, labels = _pixel_boxes(example, self.size)
        if self.jitter is not None:
            image = self.jitter(image)
        tensor = transforms.functional.to_tensor(image)
        if self.flip and torch.rand(1).item() < 0.5:
            tensor = tensor.flip(-1)
            if boxes.numel() > 0:
                boxes = torch.stack([self.size - boxes[:, 2], boxes[:, 1], self.size - boxes[:, 0], boxes[:, 3]], dim=1)
        return tensor, {"boxes": boxes, "labels": labels}


def _collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)


def build_detector(num_concepts: int, size: int, pretrained: bool) -> nn.Module:
    """Build SSDlite with one class per concept plus background, for a size x size input."""
    backbone_weights = pretrained_weights("mobilenet_v3_large") if pretrained else None
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=backbone_weights, num_classes=num_concepts + 1)
    # The images arrive already stretched to size x size, so this transform only normalizes.
    model.transform = GeneralizedRCNNTransform(size, size, list(MEAN), list(STD), size_divisible=1, fixed_size=(size, size))
    return model


def train_detector(model: nn.Module, examples: Sequence[Example], params: Hyperparameters, device: torch.device) -> nn.Module:
    """Train `model` in place and return it in eval mode on the CPU."""
    workers = params.num_workers if params.num_workers is not None else default_workers(device)
    generator = torch.Generator()
    generator.manual_seed(params.seed)
    loader = DataLoader(
        DetectionImages(examples, params.image_size, params.augmentation),
        batch_size=params.batch_size,
        shuffle=True,
        drop_last=len(examples) > params.batch_size and len(examples) % params.batch_size == 1,
        num_workers=workers,
        worker_init_fn=seed_worker,
        generator=generator,
        collate_fn=_collate,
    )
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(params.epochs * len(loader)))

    for epoch in range(1, params.epochs + 1):
        model.train()
        started = time.monotonic()
        loss_sum = 0.0
        batches = 0
        for images, targets in loader:
            images = [image.to(device) for image in images]
            targets = [{key: value.to(device) for key, value in target.items()} for target in targets]
            losses: Dict[str, torch.Tensor] = model(images, targets)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach())
            batches += 1
        logger.info(
            "epoch=%d/%d train_loss=%.5f learning_rate=%.6g seconds=%.1f",
            epoch, params.epochs, loss_sum / max(1, batches), scheduler.get_last_lr()[0], time.monotonic() - started,
        )

    model.to("cpu")
    model.eval()
    return model


class ExportedDetector(nn.Module):
    """SSDlite from normalized input to decoded boxes and per-concept scores, for a fixed input size."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head
        self.weights = model.box_coder.weights
        self.clip = model.box_coder.bbox_xform_clip
        self.size = size
        with torch.no_grad():
            probe = torch.zeros(1, 3, size, size)
            features = list(self.backbone(probe).values())
            anchors = model.anchor_generator(ImageList(probe, [(size, size)]), features)[0]
        # The anchors depend only on the input size, so they are constants of the graph.
        self.register_buffer("anchors", anchors)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        head = self.head(list(self.backbone(images).values()))
        codes = head["bbox_regression"]
        widths = self.anchors[:, 2] - self.anchors[:, 0]
        heights = self.anchors[:, 3] - self.anchors[:, 1]
        centre_x = self.anchors[:, 0] + 0.5 * widths
        centre_y = self.anchors[:, 1] + 0.5 * heights
        # Same arithmetic as torchvision's BoxCoder.decode_single, batched over images.
        wx, wy, ww, wh = self.weights
        box_centre_x = codes[..., 0] / wx * widths + centre_x
        box_centre_y = codes[..., 1] / wy * heights + centre_y
        box_width = torch.exp(torch.clamp(codes[..., 2] / ww, max=self.clip)) * widths
        box_height = torch.exp(torch.clamp(codes[..., 3] / wh, max=self.clip)) * heights
        boxes = torch.stack(
            (
                box_centre_x - 0.5 * box_width,
                box_centre_y - 0.5 * box_height,
                box_centre_x + 0.5 * box_width,
                box_centre_y + 0.5 * box_height,
            ),
            dim=2,
        ).clamp(0, self.size)
        # Column 0 is the background class.
        scores = torch.softmax(head["cls_logits"], dim=-1)[..., 1:]
        return boxes, scores


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    left = np.maximum(box[0], boxes[:, 0])
    top = np.maximum(box[1], boxes[:, 1])
    right = np.minimum(box[2], boxes[:, 2])
    bottom = np.minimum(box[3], boxes[:, 3])
    intersection = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum(area + areas - intersection, 1e-9)


def _average_precision(scores: np.ndarray, matched: np.ndarray, positives: int) -> float:
    """All-point interpolated average precision (PASCAL VOC 2010 and later) of ranked detections."""
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    true_positives = np.cumsum(matched[order])
    false_positives = np.cumsum(~matched[order])
    recall = np.concatenate([[0.0], true_positives / positives, [1.0]])
    precision = np.concatenate([[1.0], true_positives / np.maximum(true_positives + false_positives, 1), [0.0]])
    for index in range(precision.size - 2, -1, -1):
        precision[index] = max(precision[index], precision[index + 1])
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _top1(concepts: Sequence[Concept], detections: List[Dict[str, np.ndarray]], truths: List[Tuple[np.ndarray, np.ndarray]]):
    """Return top-1 accuracy and confusion matrix over held-out images with exactly one labelled box.

    An image's prediction is the concept of its highest-scored detection. An image without any
    detection counts as wrong and stays out of the matrix.
    """
    matrix = [[0] * len(concepts) for _ in concepts]
    single_box = 0
    correct = 0
    for found, (_, truth_labels) in zip(detections, truths):
        if len(truth_labels) != 1:
            continue
        single_box += 1
        if len(found["scores"]) == 0:
            continue
        true_index = int(truth_labels[0])
        predicted = int(found["labels"][int(np.argmax(found["scores"]))])
        correct += int(predicted == true_index)
        matrix[true_index][predicted] += 1
    return (0.0 if single_box == 0 else correct / single_box), matrix


def detector_metrics(
    concepts: Sequence[Concept], detections: List[Dict[str, np.ndarray]], truths: List[Tuple[np.ndarray, np.ndarray]]
) -> Dict[str, object]:
    """Compute held-out detection metrics in the fields of ClassifierMetrics, plus average precision.

    A detection is a true positive when it overlaps an unmatched labelled box of its concept at
    IoU 0.5 or more. `precision`, `recall` and `f1` count the detections at or above the
    manifest's score threshold, and `average_precision` ranks all of them. `positives` counts
    labelled boxes and `negatives` the held-out images without a box of the concept.
    """
    per_concept = []
    for index, concept in enumerate(concepts):
        scores: List[float] = []
        matched: List[bool] = []
        positives = 0
        images_without = 0
        for found, (truth_boxes, truth_labels) in zip(detections, truths):
            truth = truth_boxes[truth_labels == index]
            positives += len(truth)
            images_without += int(len(truth) == 0)
            truth_matched = np.zeros(len(truth), dtype=bool)
            mine = found["labels"] == index
            for box, score in sorted(zip(found["boxes"][mine], found["scores"][mine]), key=lambda pair: -pair[1]):
                scores.append(float(score))
                overlaps = _iou(box, truth) if len(truth) else np.zeros(0)
                best = int(np.argmax(overlaps)) if overlaps.size else -1
                hit = best >= 0 and overlaps[best] >= MATCH_IOU and not truth_matched[best]
                if hit:
                    truth_matched[best] = True
                matched.append(hit)

        score_array = np.array(scores, dtype=np.float64)
        matched_array = np.array(matched, dtype=bool)
        above_threshold = score_array >= SCORE_THRESHOLD
        true_positives = int(np.sum(matched_array & above_threshold))
        predicted = int(np.sum(above_threshold))
        precision = 0.0 if predicted == 0 else true_positives / predicted
        recall = 0.0 if positives == 0 else true_positives / positives
        per_concept.append(
            {
                "concept_id": concept.id,
                "precision": precision,
                "recall": recall,
                "f1": 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall),
                "positives": positives,
                "negatives": images_without,
                "average_precision": _average_precision(score_array, matched_array, positives),
            }
        )

    top1_accuracy, matrix = _top1(concepts, detections, truths)
    return {
        "folds": 1,
        "per_concept": per_concept,
        "macro": {key: float(np.mean([item[key] for item in per_concept])) for key in ("precision", "recall", "f1")},
        "top1_accuracy": top1_accuracy,
        "confusion_matrix": {"labels": [concept.id for concept in concepts], "matrix": matrix},
        "mean_average_precision": float(np.mean([item["average_precision"] for item in per_concept])),
        "iou_threshold": MATCH_IOU,
        "score_threshold": SCORE_THRESHOLD,
        "held_out_images": len(truths),
    }


@torch.no_grad()
def _held_out_detections(model: nn.Module, examples: Sequence[Example], size: int):
    """Run torchvision's own post-processing (score 0.01, NMS 0.45) on the held-out images, for the metrics."""
    detections: List[Dict[str, np.ndarray]] = []
    truths: List[Tuple[np.ndarray, np.ndarray]] = []
    for example in examples:
        image = transforms.functional.to_tensor(resize_to_input(load_rgb(example.path), size))
        found = model([image])[0]
        detections.append(
            {
                "boxes": found["boxes"].numpy(),
                "scores": found["scores"].numpy(),
                "labels": found["labels"].numpy() - 1,
            }
        )
        boxes, labels = _pixel_boxes(example, size)
        truths.append((boxes.numpy(), labels.numpy() - 1))
    return detections, truths


def _reference_items(exported: nn.Module, examples: Sequence[Example], images_dir: Path, size: int) -> List[Dict[str, object]]:
    items = []
    for example in examples[:REFERENCE_IMAGES]:
        resized = resize_to_input(load_rgb(example.path), size)
        with torch.no_grad():
            boxes, scores = exported(to_tensor(resized).unsqueeze(0))
        items.append(
            {
                "input_id": example.input_id,
                "image": example.path.relative_to(images_dir.resolve()).as_posix(),
                "input_png_base64": png_base64(resized),
                "boxes": [float(value) for value in boxes.flatten()],
                "scores": [float(value) for value in scores.flatten()],
            }
        )
    return items


def train_visual_detector(params: Hyperparameters, env: Environment, concepts: List[Concept], examples: List[Example]) -> None:
    training_indices, holdout_indices = split_holdout(
        examples, len(concepts), params.holdout_fraction, params.seed, by_regions=True
    )
    training = [examples[i] for i in training_indices]
    holdout = [examples[i] for i in holdout_indices]
    device = select_device()
    logger.info(
        "training %s on %s: %d training and %d held-out images, %d concepts",
        params.backbone, device, len(training), len(holdout), len(concepts),
    )

    seed_everything(params.seed)
    model = build_detector(len(concepts), params.image_size, params.pretrained)
    model = train_detector(model, training, params, device)
    metrics = detector_metrics(concepts, *_held_out_detections(model, holdout, params.image_size))
    logger.info("holdout_map=%.4f", metrics["mean_average_precision"])

    exported = ExportedDetector(model, params.image_size).eval()
    model_path = env.model_dir / "model.onnx"
    export_onnx(exported, model_path, params.image_size, OUTPUT_NAMES)
    origin = "an ImageNet backbone" if params.pretrained else "scratch"
    manifest = build_manifest(
        model_id=params.model_id,
        name=params.model_name,
        description=(
            f"SSDlite (MobileNetV3-Large) trained from {origin} on {len(training)} labelled images for "
            f"{params.epochs} epochs at {params.image_size} x {params.image_size} pixels."
        ),
        model_type_id="visual-detector",
        onnx_sha256=sha256_of(model_path),
        image_size=params.image_size,
        output={
            "decoder": "detection-boxes",
            "tensor": "boxes",
            "scores_tensor": "scores",
            "box_format": "xyxy",
            "box_units": "pixels",
            "score_threshold": SCORE_THRESHOLD,
            "iou_threshold": IOU_THRESHOLD,
            "max_detections": MAX_DETECTIONS,
        },
        concepts=[{"id": concept.id, "name": concept.name} for concept in concepts],
    )
    write_json(env.model_dir / "manifest.json", manifest)
    write_json(env.model_dir / "metrics.json", metrics)
    items = _reference_items(exported, holdout, env.images_dir, params.image_size)
    write_json(env.model_dir / "reference.json", reference_document(items, params.image_size, list(OUTPUT_NAMES)))
