"""torchvision networks, from scratch or from their ImageNet weights."""

import urllib.error
from typing import Any, Optional

import torch
import torchvision
from torch import nn

from percept_train.errors import TrainingError


def pretrained_weights(name: str) -> Any:
    """Return the default torchvision weights enum of `name` after making sure the file is downloaded."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        # get_state_dict downloads into the torch hub cache ($TORCH_HOME), or reads the cached file.
        weights.get_state_dict(progress=False)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        raise TrainingError(
            f"Could not download the pretrained {name} weights from {weights.url}: {error}. "
            "Give the training job internet access (no network isolation, or a VPC with a NAT gateway), "
            "or set pretrained to false to train from scratch."
        ) from error
    return weights


def build_classifier(backbone: str, num_classes: int, pretrained: bool) -> nn.Module:
    """Build `backbone` with a new last layer of one logit per concept."""
    weights: Optional[Any] = pretrained_weights(backbone) if pretrained else None
    model = torchvision.models.get_model(backbone, weights=weights)
    if backbone.startswith("resnet"):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    else:
        # mobilenet_v3_* and efficientnet_b0 end in a classifier Sequential whose last layer is Linear.
        last = model.classifier[-1]
        model.classifier[-1] = nn.Linear(last.in_features, num_classes)
    return model


def select_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
