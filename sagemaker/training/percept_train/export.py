"""ONNX export and the JSON files written next to it: manifest.json and reference.json."""

import base64
import hashlib
import inspect
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from torch import nn

from percept_train.images import MEAN, STD

# The highest opset that torch 1.13's exporter writes. Every onnxruntime 1.2x release runs it.
OPSET = 17
INPUT_TENSOR = "images"

# The source of a manifest that the platform has not registered yet. "SM_MODEL_DIR" is not a
# valid S3 bucket name, so a manifest whose source was never replaced cannot download anything.
PLACEHOLDER_BUCKET = "SM_MODEL_DIR"


def export_onnx(model: nn.Module, path: Path, image_size: int, output_names: Sequence[str]) -> None:
    """Export `model` (on the CPU, in eval mode) with a dynamic batch dimension, float32 NCHW input."""
    example = torch.zeros(2, 3, image_size, image_size)
    dynamic_axes = {INPUT_TENSOR: {0: "batch"}}
    dynamic_axes.update({name: {0: "batch"} for name in output_names})
    options: Dict[str, Any] = {}
    # PyTorch 2.9 made the dynamo exporter the default, which needs onnxscript. The TorchScript
    # exporter needs nothing beyond torch.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[INPUT_TENSOR],
        output_names=list(output_names),
        dynamic_axes=dynamic_axes,
        opset_version=OPSET,
        do_constant_folding=True,
        **options,
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_spec(image_size: int) -> Dict[str, Any]:
    """Return the manifest `input`: stretch to image_size, then (pixel / 255 - mean) / std in RGB NCHW."""
    return {
        "tensor": INPUT_TENSOR,
        "layout": "NCHW",
        "channel_order": "RGB",
        "resize": {"mode": "stretch", "width": image_size, "height": image_size},
        "normalization": {"scale": 1 / 255, "mean": list(MEAN), "std": list(STD)},
        "max_batch_size": 32,
    }


def build_manifest(
    *,
    model_id: str,
    name: str,
    description: str,
    model_type_id: str,
    onnx_sha256: str,
    image_size: int,
    output: Dict[str, Any],
    concepts: Sequence[Dict[str, str]],
) -> Dict[str, Any]:
    """Build a Percept ModelManifest (functions/commons/models/manifest.ts) for the exported file.

    `source` names the S3 object from PERCEPT_MODEL_BUCKET and PERCEPT_MODEL_KEY when the
    platform sets them; otherwise it is a placeholder that the platform replaces on registration.
    """
    return {
        "id": model_id,
        "name": name,
        "description": description,
        "model_type_id": model_type_id,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {
            "type": "app-upload",
            "bucket": os.environ.get("PERCEPT_MODEL_BUCKET") or PLACEHOLDER_BUCKET,
            "key": os.environ.get("PERCEPT_MODEL_KEY") or "model.onnx",
            "sha256": onnx_sha256,
        },
        "input": input_spec(image_size),
        "output": output,
        "concepts": list(concepts),
    }


def png_base64(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def reference_document(items: List[Dict[str, Any]], image_size: int, output_names: Sequence[str]) -> Dict[str, Any]:
    """Wrap the reference items with what produced them, for the ONNX-versus-PyTorch parity check."""
    return {
        "description": (
            "PyTorch outputs of held-out images. input_png_base64 is the image already resized to the "
            "model input size, so the serving code feeds the same pixels without resizing again."
        ),
        "torch_version": torch.__version__,
        "image_size": image_size,
        "outputs": list(output_names),
        "items": items,
    }
