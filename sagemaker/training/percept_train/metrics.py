"""Held-out metrics in the shape of `ClassifierMetrics` (functions/commons/classifier/metrics.ts).

The definitions follow that file. Precision, recall and F1 count a score of 0.5 or more as a
prediction. ROC AUC is the probability that a positive outscores a negative, ties counting one
half. Top-1 accuracy and the confusion matrix cover the examples with exactly one positive concept.
There is one held-out split instead of k folds, so `folds` is 1. Every example is a negative
of each concept it is not labelled with, because dataset.jsonl lists positives only.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np

DECISION_THRESHOLD = 0.5


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> Optional[float]:
    """Return the ROC AUC, or None when there is no positive or no negative."""
    positives = scores[positive]
    negatives = np.sort(scores[~positive])
    if positives.size == 0 or negatives.size == 0:
        return None
    below = np.searchsorted(negatives, positives, side="left")
    below_or_tied = np.searchsorted(negatives, positives, side="right")
    wins = below.sum() + 0.5 * (below_or_tied - below).sum()
    return float(wins / (positives.size * negatives.size))


def _concept_metrics(concept_id: str, scores: np.ndarray, positive: np.ndarray) -> Dict[str, object]:
    predicted = scores >= DECISION_THRESHOLD
    true_positives = int(np.sum(predicted & positive))
    false_positives = int(np.sum(predicted & ~positive))
    positives = int(np.sum(positive))
    precision = 0.0 if true_positives + false_positives == 0 else true_positives / (true_positives + false_positives)
    recall = 0.0 if positives == 0 else true_positives / positives
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    metrics: Dict[str, object] = {"concept_id": concept_id, "precision": precision, "recall": recall, "f1": f1}
    auc = roc_auc(scores, positive)
    if auc is not None:
        metrics["roc_auc"] = auc
    metrics["positives"] = positives
    metrics["negatives"] = int(scores.size - positives)
    return metrics


def classifier_metrics(concept_ids: Sequence[str], probabilities: np.ndarray, labels: np.ndarray) -> Dict[str, object]:
    """Compute the metrics of held-out `probabilities` [N, C] against boolean `labels` [N, C]."""
    per_concept = [
        _concept_metrics(concept_id, probabilities[:, index], labels[:, index].astype(bool))
        for index, concept_id in enumerate(concept_ids)
    ]

    def average(key: str) -> float:
        return float(np.mean([float(metrics[key]) for metrics in per_concept]))  # type: ignore[arg-type]

    macro: Dict[str, float] = {"precision": average("precision"), "recall": average("recall"), "f1": average("f1")}
    if all("roc_auc" in metrics for metrics in per_concept):
        macro["roc_auc"] = average("roc_auc")

    matrix: List[List[int]] = [[0] * len(concept_ids) for _ in concept_ids]
    single_labelled = 0
    correct = 0
    for row, truth in zip(probabilities, labels):
        true_indices = np.flatnonzero(truth)
        if true_indices.size != 1:
            continue
        true_index = int(true_indices[0])
        predicted = int(np.argmax(row))
        single_labelled += 1
        correct += int(predicted == true_index)
        matrix[true_index][predicted] += 1

    return {
        "folds": 1,
        "per_concept": per_concept,
        "macro": macro,
        "top1_accuracy": 0.0 if single_labelled == 0 else correct / single_labelled,
        "confusion_matrix": {"labels": list(concept_ids), "matrix": matrix},
    }
