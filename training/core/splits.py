"""Patient-grouped, stratified folds in which identical images never straddle two splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from training.core.data import Record


@dataclass(frozen=True)
class Split:
    train: list[int]
    val: list[int]
    test: list[int]


def split_groups(records: Sequence[Record]) -> list[int]:
    """One group id per record: same patient or same file bytes ⇒ same group (transitively)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[str, int] = {}
    for index, record in enumerate(records):
        for key in (record.group, f"sha256:{record.sha256}"):
            if key in first_seen:
                parent[find(index)] = find(first_seen[key])
            else:
                first_seen[key] = index
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(len(records))]


def assign_folds(records: Sequence[Record], *, folds: int, seed: int) -> list[int]:
    """Fold number per record, stratified on (source, melanoma target).

    Stratifying on the source as well keeps each source's share (and its melanoma rate) alike in
    every fold, so that per-source figures on the test fold exist for every source.
    """
    if folds < 2:
        raise ValueError("folds must be >= 2")
    groups = np.asarray(split_groups(records))
    if len(set(groups.tolist())) < folds:
        raise ValueError(f"{len(set(groups.tolist()))} patients cannot fill {folds} folds")
    strata = {key: i for i, key in enumerate(sorted({(r.source, r.target) for r in records}))}
    targets = np.asarray([strata[(r.source, r.target)] for r in records])
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(records), dtype=int)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(records)), targets, groups)):
        fold_of[held_out] = fold
    return fold_of.tolist()


def train_val_test(records: Sequence[Record], *, folds: int, fold: int, seed: int) -> Split:
    """Fold `fold` is the test set, the next one validation, the rest training."""
    fold_of = assign_folds(records, folds=folds, seed=seed)
    val_fold = (fold + 1) % folds
    split = Split(train=[], val=[], test=[])
    for index, f in enumerate(fold_of):
        if f == fold:
            split.test.append(index)
        elif f == val_fold:
            split.val.append(index)
        else:
            split.train.append(index)
    return split
