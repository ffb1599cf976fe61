"""Image decoding and the tensors fed to the network.

Percept's serving code (functions/commons/image/decode.ts and models/preprocess.ts) decodes with
sharp and resizes with its bilinear kernel. This module decodes the same way with Pillow: EXIF
orientation applied, ICC profile converted to sRGB, transparency flattened onto white, first
frame only. On the test photos, Pillow's bilinear resize is within a mean of 1 grey level of
sharp's (measured on test/fixtures/images at 64 and 224 pixels).
"""

import io
from pathlib import Path
from typing import Callable, Tuple

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps
from torchvision import transforms

# ImageNet statistics, which torchvision's pretrained weights expect; harmless from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

BILINEAR = getattr(Image, "Resampling", Image).BILINEAR
WHITE = (255, 255, 255)
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_8bit(image: Image.Image) -> Image.Image:
    """Convert a 16-bit or 32-bit integer greyscale image to 8-bit greyscale."""
    values = np.asarray(image, dtype=np.uint32)
    shift = 8 if values.max(initial=0) <= 0xFFFF else 24
    return Image.fromarray((values >> shift).astype(np.uint8), mode="L")


def _to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.profileToProfile(image, source, SRGB_PROFILE, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A damaged or unsupported profile: keep the pixel values as they are, as sRGB.
        return image.convert("RGB")


def load_rgb(path: Path) -> Image.Image:
    """Decode the first frame of an image file into 8-bit sRGB. Raises OSError for an unreadable file."""
    with Image.open(path) as opened:
        opened.seek(0)
        opened.load()
        icc_profile = opened.info.get("icc_profile")
        image = ImageOps.exif_transpose(opened)

    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        alpha = image.getchannel("A")
        image = image.convert("RGB")
    elif image.mode.startswith("I"):
        image = _to_8bit(image)

    if icc_profile and image.mode in ("RGB", "CMYK", "L"):
        image = _to_srgb(image, icc_profile)
    image = image.convert("RGB")

    if alpha is not None:
        image = Image.composite(image, Image.new("RGB", image.size, WHITE), alpha)
    return image


def resize_to_input(image: Image.Image, size: int) -> Image.Image:
    """Stretch to size x size, as the manifest's `stretch` resize does in the serving code."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), BILINEAR)


_normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert an RGB image to a normalized float32 CHW tensor: (pixel / 255 - mean) / std."""
    return _normalize(image)


def eval_transform(size: int) -> Callable[[Image.Image], torch.Tensor]:
    return lambda image: to_tensor(resize_to_input(image, size))


def train_transform(size: int, augmentation: str) -> Callable[[Image.Image], torch.Tensor]:
    """Return the augmentation pipeline for `none`, `light` or `strong`, ending in a normalized tensor."""
    if augmentation == "none":
        return eval_transform(size)

    crop_scale: Tuple[float, float] = (0.6, 1.0) if augmentation == "light" else (0.3, 1.0)
    steps = [
        transforms.RandomResizedCrop(size, scale=crop_scale, interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.RandomHorizontalFlip(),
    ]
    if augmentation == "strong":
        steps += [
            transforms.RandomVerticalFlip(p=0.2),
            transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05),
            transforms.RandomGrayscale(p=0.1),
        ]
    steps += [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    return transforms.Compose(steps)
