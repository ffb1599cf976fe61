"""The labelled dataset: concepts.json and dataset.jsonl, their checks, and the held-out split.

concepts.json is `[{"id": "cat", "name": "cat"}, ...]`, and its order is the class order.
dataset.jsonl has one labelled input per line:
`{"input_id": "...", "image": "<path relative to SM_CHANNEL_IMAGES>", "concepts": ["cat"], "regions": [...]}`.
`concepts` lists the positive concepts of the whole image, and every other concept counts as a
negative of that image. `regions` contains the boxes of a detector's training data, with `bbox`
fractions of the image as Clarifai defines them.
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from percept_train.errors import TrainingError
from percept_train.images import load_rgb

# A concept needs one positive image in the training split and one in the held-out split.
MIN_POSITIVES = 2

# How many offending lines or images an error message lists before it adds "and N more".
MAX_LISTED = 5


@dataclass(frozen=True)
class Concept:
    id: str
    name: str


@dataclass(frozen=True)
class Example:
    input_id: str
    path: Path
    # Indices into the concept list of the concepts that are positive on the whole image.
    positives: frozenset
    # Labelled boxes, read only for detectors: ((left, top, right, bottom) as fractions of the
    # image, concept index).
    regions: Tuple[Tuple[Tuple[float, float, float, float], int], ...]


def _listed(items: Sequence[str]) -> str:
    listed = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return listed if more <= 0 else f"{listed} and {more} more"


def load_concepts(labels_dir: Path) -> List[Concept]:
    path = labels_dir / "concepts.json"
    if not path.is_file():
        raise TrainingError(f"{path} is missing. The labels channel must contain concepts.json and dataset.jsonl.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TrainingError(f"{path} is not valid JSON: {error}.") from error

    if not isinstance(raw, list) or not raw:
        raise TrainingError(f"{path} must be a non-empty JSON array of {{\"id\", \"name\"}} objects.")
    concepts: List[Concept] = []
    seen = set()
    for index, item in enumerate(raw):
        concept_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(concept_id, str) or not concept_id:
            raise TrainingError(f"{path}: item {index} has no string id: {json.dumps(item)[:200]}.")
        if concept_id in seen:
            raise TrainingError(f"{path}: concept id {concept_id!r} appears twice. Concept ids must be unique.")
        seen.add(concept_id)
        name = item.get("name")
        concepts.append(Concept(id=concept_id, name=name if isinstance(name, str) and name else concept_id))
    return concepts


def _resolve_image(images_dir: Path, relative: str, line_number: int) -> Path:
    path = (images_dir / relative).resolve()
    if not path.is_relative_to(images_dir.resolve()):
        raise TrainingError(
            f"dataset.jsonl line {line_number}: image {relative!r} points outside SM_CHANNEL_IMAGES. "
            "Image paths must be relative to the images channel."
        )
    return path


def _parse_regions(value: object, concept_index: Dict[str, int], line_number: int, unknown: Dict[str, int]) -> list:
    """Parse the regions of one line, adding concept ids missing from concepts.json to `unknown`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TrainingError(f"dataset.jsonl line {line_number}: regions must be an array.")
    regions = []
    for region in value:
        bbox = region.get("bbox") if isinstance(region, dict) else None
        names = region.get("concepts") if isinstance(region, dict) else None
        keys = ("left_col", "top_row", "right_col", "bottom_row")
        if not isinstance(bbox, dict) or not all(isinstance(bbox.get(key), (int, float)) for key in keys):
            raise TrainingError(
                f"dataset.jsonl line {line_number}: a region needs a bbox with numeric top_row, left_col, "
                f"bottom_row and right_col, got {json.dumps(region)[:200]}."
            )
        left, top, right, bottom = (min(1.0, max(0.0, float(bbox[key]))) for key in keys)
        if right <= left or bottom <= top:
            raise TrainingError(
                f"dataset.jsonl line {line_number}: region bbox {json.dumps(bbox)} has no area. "
                "right_col must exceed left_col and bottom_row must exceed top_row."
            )
        for concept_id in names if isinstance(names, list) else []:
            if concept_id in concept_index:
                regions.append(((left, top, right, bottom), concept_index[concept_id]))
            else:
                unknown[str(concept_id)] = line_number
    return regions


def load_examples(labels_dir: Path, images_dir: Path, concepts: Sequence[Concept]) -> List[Example]:
    """Read dataset.jsonl. Raises TrainingError for a missing file, a bad line or an unknown concept."""
    path = labels_dir / "dataset.jsonl"
    if not path.is_file():
        raise TrainingError(f"{path} is missing. The labels channel must contain concepts.json and dataset.jsonl.")
    concept_index = {concept.id: index for index, concept in enumerate(concepts)}

    examples: List[Example] = []
    unknown: Dict[str, int] = {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrainingError(f"dataset.jsonl line {line_number} is not valid JSON: {error}.") from error
        image = record.get("image") if isinstance(record, dict) else None
        positives = record.get("concepts", []) if isinstance(record, dict) else None
        if not isinstance(image, str) or not image or not isinstance(positives, list):
            raise TrainingError(
                f"dataset.jsonl line {line_number} needs an image path and a concepts array, "
                f"got {line[:200]}."
            )
        for concept_id in positives:
            if concept_id not in concept_index:
                unknown[str(concept_id)] = line_number
        examples.append(
            Example(
                input_id=str(record.get("input_id", f"line-{line_number}")),
                path=_resolve_image(images_dir, image, line_number),
                positives=frozenset(concept_index[c] for c in positives if c in concept_index),
                regions=tuple(_parse_regions(record.get("regions"), concept_index, line_number, unknown)),
            )
        )

    if unknown:
        listed = _listed([f"{concept_id!r} (line {line})" for concept_id, line in unknown.items()])
        raise TrainingError(f"dataset.jsonl uses concepts that concepts.json does not list: {listed}.")
    if not examples:
        raise TrainingError(f"{path} contains no labelled images. Label images with the model's concepts, then train again.")
    return examples


def check_concept_counts(concepts: Sequence[Concept], examples: Sequence[Example], by_regions: bool) -> None:
    """Require MIN_POSITIVES positive images per concept and, for a classifier, one negative."""
    problems: List[str] = []
    for index, concept in enumerate(concepts):
        if by_regions:
            positives = sum(1 for example in examples if any(c == index for _, c in example.regions))
        else:
            positives = sum(1 for example in examples if index in example.positives)
        if positives < MIN_POSITIVES:
            problems.append(f"{concept.id!r} has {positives} positive image(s)")
        elif not by_regions and positives == len(examples):
            problems.append(f"{concept.id!r} is positive on every image, so it has no negative example")
    if problems:
        unit = "labelled regions" if by_regions else "positive images"
        raise TrainingError(
            f"Not enough labelled data: {_listed(problems)}. Each concept needs at least {MIN_POSITIVES} {unit} "
            "(one to train on, one to evaluate on), and a classifier concept needs an image without it."
        )


def check_images_readable(examples: Sequence[Example]) -> List[Tuple[int, int]]:
    """Decode every image once, and return their (width, height). Raises TrainingError listing unreadable ones."""
    sizes: List[Tuple[int, int]] = []
    unreadable: List[str] = []
    for example in examples:
        try:
            sizes.append(load_rgb(example.path).size)
        except (OSError, ValueError, SyntaxError) as error:
            # Pillow raises OSError for missing, truncated and unknown files, SyntaxError for some damaged headers.
            unreadable.append(f"{example.input_id} ({example.path.name}: {error})")
            sizes.append((0, 0))
    if unreadable:
        raise TrainingError(
            f"{len(unreadable)} image(s) could not be read: {_listed(unreadable)}. "
            "Remove or replace these inputs, then train again."
        )
    return sizes


def stratum_of(example: Example, by_regions: bool) -> int:
    """Return the concept that stratifies `example`: its first positive concept, or -1 for none."""
    indices = [index for _, index in example.regions] if by_regions else list(example.positives)
    return min(indices) if indices else -1


def split_holdout(
    examples: Sequence[Example], num_concepts: int, fraction: float, seed: int, by_regions: bool = False
) -> Tuple[List[int], List[int]]:
    """Split example indices into training and held-out, stratified by concept.

    Each stratum (first positive concept, as functions/commons/classifier/metrics.ts does it)
    is shuffled with `seed`, and round(size * fraction) of it, at least 1 and at most size - 1,
    is held out. A concept left without a positive in the training split gets one moved back.
    """
    rng = random.Random(seed)
    strata: Dict[int, List[int]] = {}
    for index, example in enumerate(examples):
        strata.setdefault(stratum_of(example, by_regions), []).append(index)

    holdout: List[int] = []
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        if len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, round(len(members) * fraction)))
        holdout.extend(members[:count])

    held_out = set(holdout)
    for concept in range(num_concepts):
        def has_concept(i: int) -> bool:
            example = examples[i]
            return any(c == concept for _, c in example.regions) if by_regions else concept in example.positives

        in_training = any(has_concept(i) for i in range(len(examples)) if i not in held_out)
        if not in_training:
            moved = next(i for i in holdout if has_concept(i))
            held_out.discard(moved)
            holdout.remove(moved)

    training = [i for i in range(len(examples)) if i not in held_out]
    if not holdout:
        raise TrainingError(
            "The held-out split is empty because no concept has 2 or more images. Label more images, then train again."
        )
    return training, sorted(holdout)
