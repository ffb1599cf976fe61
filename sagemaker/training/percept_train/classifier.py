"""Training and prediction of the multi-label image classifier.

Each concept gets its own sigmoid and binary cross-entropy, because Clarifai concepts are
independent labels: an image can show several concepts or none, and a softmax would force the
scores of every image to sum to 1.
"""

import logging
import math
import os
import random
import time
from typing import Callable, List, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from percept_train.config import Hyperparameters
from percept_train.data import Example
from percept_train.errors import TrainingError
from percept_train.images import eval_transform, load_rgb, train_transform

logger = logging.getLogger("percept_train")

WEIGHT_DECAY = 1e-4
# Share of the steps spent warming the learning rate up before the cosine decay.
WARMUP_SHARE = 0.1


class LabelledImages(Dataset):
    """Images of `examples` through `transform`, each with a multi-hot label vector of the concepts."""

    def __init__(self, examples: Sequence[Example], num_concepts: int, transform: Callable[[Image.Image], torch.Tensor]):
        self.examples = list(examples)
        self.num_concepts = num_concepts
        self.transform = transform

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        example = self.examples[index]
        try:
            image = load_rgb(example.path)
        except (OSError, ValueError, SyntaxError) as error:
            raise TrainingError(f"Image of input {example.input_id} ({example.path.name}) could not be read: {error}.") from error
        target = torch.zeros(self.num_concepts, dtype=torch.float32)
        for concept in example.positives:
            target[concept] = 1.0
        return self.transform(image), target


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def default_workers(device: torch.device) -> int:
    return min(8, max(0, (os.cpu_count() or 1) - 1)) if device.type == "cuda" else 0


def cosine_with_warmup(total_steps: int) -> Callable[[int], float]:
    warmup = max(1, int(total_steps * WARMUP_SHARE))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def train_classifier(
    model: nn.Module,
    examples: Sequence[Example],
    num_concepts: int,
    params: Hyperparameters,
    device: torch.device,
) -> nn.Module:
    """Train `model` in place on `examples` and return it in eval mode on the CPU."""
    workers = params.num_workers if params.num_workers is not None else default_workers(device)
    dataset = LabelledImages(examples, num_concepts, train_transform(params.image_size, params.augmentation))
    generator = torch.Generator()
    generator.manual_seed(params.seed)
    loader = DataLoader(
        dataset,
        batch_size=params.batch_size,
        shuffle=True,
        # A last batch of one image would make BatchNorm fail in training mode.
        drop_last=len(dataset) > params.batch_size and len(dataset) % params.batch_size == 1,
        num_workers=workers,
        worker_init_fn=seed_worker,
        generator=generator,
        pin_memory=device.type == "cuda",
    )

    model.to(device)
    parallel = nn.DataParallel(model) if device.type == "cuda" and torch.cuda.device_count() > 1 else model
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=WEIGHT_DECAY)
    total_steps = params.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total_steps))
    use_amp = device.type == "cuda"
    scaler = torch.cuda.amp.GradScaler(enabled=use_amp)

    for epoch in range(1, params.epochs + 1):
        parallel.train()
        started = time.monotonic()
        loss_sum = 0.0
        seen = 0
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                loss = criterion(parallel(images), targets)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += float(loss.detach()) * images.shape[0]
            seen += images.shape[0]
        # One line per epoch in key=value form, which SageMaker metric definitions can match.
        logger.info(
            "epoch=%d/%d train_loss=%.5f learning_rate=%.6g seconds=%.1f",
            epoch, params.epochs, loss_sum / max(1, seen), scheduler.get_last_lr()[0], time.monotonic() - started,
        )

    model.to("cpu")
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model: nn.Module, examples: Sequence[Example], image_size: int, batch_size: int) -> np.ndarray:
    """Return the [N, C] logits of `examples`, preprocessed as the serving code does (stretch resize)."""
    transform = eval_transform(image_size)
    model.eval()
    rows: List[np.ndarray] = []
    for start in range(0, len(examples), batch_size):
        batch = torch.stack([transform(load_rgb(example.path)) for example in examples[start : start + batch_size]])
        rows.append(model(batch).numpy())
    return np.concatenate(rows, axis=0)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
