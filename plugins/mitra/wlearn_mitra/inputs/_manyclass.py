"""More classes than the model's head: a balanced class hierarchy of small ICL problems.

Mitra's classifier head has 10 outputs. A table of K classes is split into a tree whose every
internal node is one in-context problem of at most ``max_groups`` groups (2..10): the node's
support rows are the support rows of its classes, labelled by the group holding their class;
a class's probability is the product of its groups' probabilities along its path, so rows sum
to 1. This is TabICL's hierarchical classification (``model/learning.py``), which
``mitra-finetune`` uses for Mitra-v2; the exact algorithm (tree, support per node, seeds) is
``spec/mitra.md``, "More classes than the head". Error-correcting output codes were measured
against it (``bench/bench_manyclass.py``, bench/README.md): not better at comparable cost on
the 32-class table, better on digits only at 1.5 to 4 times the passes.

A tree is nested lists: a node lists its groups in order, a group being a class index (an
int) or a sub-node (a list). ``[[0, 1], [2, 3, 4]]`` is a root of two groups, each a leaf
node over its classes. Bundles store the tree as that JSON.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from wlearn.errors import BundleError, ValidationError

from ._labels import check_extension
from ._support import select_support

#: The model's head: a node never has more groups than this.
HEAD = 10
#: Version of the ``meta.classHierarchy`` bundle extension written and read here.
VERSION = 1

Tree = list  # nested lists of class indices

#: ``run(rows, groups, n_groups)``: the model's probabilities [Q, n_groups] for the query
#: rows, from the support rows ``rows`` (indices into the stored support set) labelled
#: ``groups`` (int64, 0..n_groups-1).
RunNode = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def check_max_groups(value: Any) -> int:
    """``max_node_classes`` as an int in 2..10, else ValidationError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            2 <= value <= HEAD):
        raise ValidationError(
            f"max_node_classes must be an integer from 2 to {HEAD} (the model's head) or "
            f"None, got {value!r}")
    return int(value)


def build_tree(n_classes: int, max_groups: int) -> Tree:
    """The balanced hierarchy of classes ``0..n_classes-1`` (``n_classes > max_groups``).

    A node of ``n`` classes, ``n > max_groups``, has ``g = min(max_groups, ceil(n /
    max_groups))`` groups: its classes in ascending order cut into ``g`` consecutive runs,
    the first ``n mod g`` one class longer. A run of at most ``max_groups`` classes is a leaf
    node (a run of one is just that class); a longer run is split the same way.
    """
    return _split(list(range(n_classes)), max_groups)


def _split(classes: list[int], max_groups: int) -> Tree:
    n = len(classes)
    if n <= max_groups:
        return list(classes)
    g = min(max_groups, -(-n // max_groups))
    size, extra = divmod(n, g)
    node, start = [], 0
    for i in range(g):
        run = classes[start:start + size + (1 if i < extra else 0)]
        start += len(run)
        node.append(run[0] if len(run) == 1 else _split(run, max_groups))
    return node


def classes_of(group: Any) -> list[int]:
    """The class indices under a group (an int or a node), in tree order."""
    if isinstance(group, list):
        return [c for item in group for c in classes_of(item)]
    return [group]


def nodes(tree: Tree) -> list[Tree]:
    """The tree's nodes in pre-order (the order they run and are described in)."""
    out = [tree]
    for item in tree:
        if isinstance(item, list):
            out += nodes(item)
    return out


def stored_support(max_support: int | float, n_classes: int, max_groups: int) -> int | float:
    """How many training rows a hierarchical model keeps: ``max_support * ceil(K /
    max_groups)``, so that a leaf of up to ``max_groups`` classes can still see about
    ``max_support`` rows; every node is capped at ``max_support`` (:func:`node_support`)."""
    return max_support * -(-n_classes // max_groups)


def node_support(
    node: Tree, support_index: np.ndarray, max_support: int | float, seed: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, groups)`` of one node: the stored support rows whose class is under ``node``
    (ascending), and each row's group (int64). More than ``max_support`` such rows are cut
    to ``max_support`` with the support selection of fit (``select_support``, stratified by
    class, seeded by ``seed``), so no node costs more than a plain model."""
    group_of = {c: g for g, item in enumerate(node) for c in classes_of(item)}
    lookup = np.full(int(support_index.max(initial=0)) + 1, -1, dtype=np.int64)
    for c, g in group_of.items():
        if c < len(lookup):
            lookup[c] = g
    groups = lookup[support_index]
    rows = np.flatnonzero(groups >= 0)
    if len(rows) > max_support:
        rows = rows[select_support(len(rows), max_support, seed, support_index[rows],
                                   "stratified")]
    return rows, groups[rows]


def predict_proba(tree: Tree, n_classes: int, n_query: int, run: RunNode,
                  support_index: np.ndarray, max_support: int | float,
                  seed: float) -> np.ndarray:
    """Class probabilities float64 [n_query, n_classes] through the hierarchy.

    Every node runs once over all query rows (nodes one after another, so the memory of a
    predict is that of its largest node, not the sum), but for a node with no support rows,
    which is not run and splits its weight equally among its groups; a class's probability is the
    product of its groups' probabilities down its path, and rows are renormalised to sum
    to 1 (the products already do, up to rounding).
    """
    proba = np.zeros((n_query, n_classes))

    def visit(node: Tree, weight: np.ndarray) -> None:
        rows, groups = node_support(node, support_index, max_support, seed)
        if len(rows):
            p = run(rows, groups, len(node))
        else:  # no support row of any of its classes: nothing tells its groups apart
            p = np.full((n_query, len(node)), 1.0 / len(node))
        for g, item in enumerate(node):
            if isinstance(item, list):
                visit(item, weight * p[:, g])
            else:
                proba[:, item] = weight * p[:, g]

    visit(tree, np.ones(n_query))
    total = proba.sum(axis=1, keepdims=True)
    np.divide(proba, total, out=proba, where=total > 0)
    return proba


# --- bundles ----------------------------------------------------------------------------------

def to_json(tree: Tree) -> dict:
    """``meta.classHierarchy`` of a bundle (spec/mitra.md)."""
    return {"version": VERSION, "tree": tree}


def from_json(value: Any, n_classes: int) -> Tree:
    """The tree of ``meta.classHierarchy``; BundleError unless it is a version-1 object whose
    tree holds every class ``0..n_classes-1`` exactly once, each node of 2..10 groups."""
    check_extension(value, "classHierarchy", VERSION)
    unknown = set(value) - {"version", "tree"}
    if unknown:
        raise BundleError(f"meta.classHierarchy has unknown fields {sorted(unknown)}")
    tree = value.get("tree")
    check_tree(tree, n_classes, BundleError, "meta.classHierarchy.tree")
    return tree


def check_tree(tree: Any, n_classes: int, error: type = ValidationError,
               name: str = "class_hierarchy_") -> None:
    """``error`` unless ``tree`` is a class hierarchy over ``0..n_classes-1``: nested lists,
    each node of 2..10 groups, every class exactly once."""
    _check_node(tree, 0, error, name)
    found = classes_of(tree)
    if sorted(found) != list(range(n_classes)):
        raise error(f"{name} must hold each class index 0..{n_classes - 1} exactly once, "
                    f"found {len(found)} entries")


def _check_node(node: Any, depth: int, error: type, name: str) -> None:
    if depth > 64:
        raise error(f"{name} is nested deeper than 64 levels")
    if not isinstance(node, list) or not 2 <= len(node) <= HEAD:
        raise error(f"{name}: every node must be a list of 2..{HEAD} groups")
    for item in node:
        if isinstance(item, list):
            _check_node(item, depth + 1, error, name)
        elif type(item) is not int or item < 0:
            raise error(f"{name}: a group must be a class index (an integer >= 0) or a list")
