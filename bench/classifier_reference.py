"""Reference top-1 accuracy of scikit-learn's LogisticRegression on the folds of classifier.bench.ts.

Reads the JSON that bench/classifier.bench.ts writes ({"vectors": [[...]], "labels": [int],
"folds": [int]}, vectors already L2-normalized), trains on all folds but one and scores the
held-out fold, for each fold. Prints one JSON object with the per-fold and mean top-1
accuracy of two configurations:

- "default": LogisticRegression() with scikit-learn's defaults (lbfgs, C=1, multinomial loss)
  on the normalized vectors, the usual baseline;
- "standardized": StandardScaler, then LogisticRegression() with the same defaults;
- "matched": the formulation of Percept's trainScorers, one-vs-rest binary logistic
  regressions on standardized features with balanced class weights, and C = 1 / (0.01 * n)
  so that the L2 penalty per example is Percept's default of 0.01. Top-1 is the argmax of
  the per-class decision values.

Usage: /usr/bin/python3 bench/classifier_reference.py DATA.json
"""

import json
import sys
import warnings

import numpy as np
from sklearn import __version__ as sklearn_version
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PERCEPT_L2 = 0.01


def default_model(train_count):
    return LogisticRegression(max_iter=5000)


def standardized_model(train_count):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def matched_model(train_count):
    binary = LogisticRegression(C=1.0 / (PERCEPT_L2 * train_count), class_weight="balanced", max_iter=5000)
    return make_pipeline(StandardScaler(), OneVsRestClassifier(binary))


def fold_accuracies(vectors, labels, folds, make_model):
    accuracies = []
    for fold in sorted(set(folds.tolist())):
        held_out = folds == fold
        model = make_model(int((~held_out).sum()))
        model.fit(vectors[~held_out], labels[~held_out])
        predicted = model.predict(vectors[held_out])
        accuracies.append(float((predicted == labels[held_out]).mean()))
    return accuracies


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: classifier_reference.py DATA.json")
    with open(sys.argv[1], encoding="utf-8") as file:
        data = json.load(file)
    vectors = np.asarray(data["vectors"], dtype=np.float64)
    labels = np.asarray(data["labels"])
    folds = np.asarray(data["folds"])

    result = {"sklearn_version": sklearn_version}
    # A ConvergenceWarning would be printed on stderr. The result records whether one occurred.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for name, make_model in (
            ("default", default_model),
            ("standardized", standardized_model),
            ("matched", matched_model),
        ):
            per_fold = fold_accuracies(vectors, labels, folds, make_model)
            result[name] = {"per_fold": per_fold, "mean": float(np.mean(per_fold))}
    result["convergence_warnings"] = sum(1 for warning in caught if issubclass(warning.category, ConvergenceWarning))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
