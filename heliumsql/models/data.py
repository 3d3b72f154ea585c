"""Deterministic train and held-out splits of the task mix.

The held-out split is drawn first from its own seed; training items whose rendered prompt equals a
held-out one are skipped, so held-out accuracy measures generalisation to unseen rows. The unseen
splits (:func:`unseen_split`) go further: phrasings and words training never draws from.

>>> held_out = heldout_split(seed=0, per_task=2)
>>> sorted(held_out) == sorted(TASKS)
True
"""

from __future__ import annotations

import random

from heliumsql.models.example import Example
from heliumsql.models.tasks import TASKS
from heliumsql.models.vocabulary import TRAIN


def _key(ex: Example) -> tuple[str | None, str]:
    return ex.system, ex.prompt


def heldout_split(seed: int = 0, per_task: int = 100, split: str = TRAIN) -> dict[str, list[Example]]:
    """``per_task`` distinct held-out items for every task, the same for the same seed.

    ``split`` TRAIN (the default) gives in-distribution items: seen phrasings and words, unseen
    rows. vocabulary.PHRASING or WORDS give items of the tasks measured on that split (``unseen``
    of :class:`~heliumsql.models.tasks.Task`), from phrasings or words training never sees.
    """
    out: dict[str, list[Example]] = {}
    for i, (name, task) in enumerate(sorted(TASKS.items())):
        if split != TRAIN and split not in task.unseen:
            continue
        tag = "" if split == TRAIN else f"-{split}"
        rng = random.Random(f"heldout{tag}-{seed}-{i}-{name}")
        seen: set[tuple[str | None, str]] = set()
        items: list[Example] = []
        for _ in range(per_task * 50):  # a task may have fewer distinct unseen items than asked
            if len(items) == per_task:
                break
            ex = task.make(rng, split)
            if _key(ex) not in seen:
                seen.add(_key(ex))
                items.append(ex)
        out[name] = items
    return out


def train_split(num_items: int, seed: int = 0, exclude: dict[str, list[Example]] | None = None,
                weights: dict[str, float] | None = None) -> list[Example]:
    """``num_items`` training items mixed by task weight (``weights`` overrides some), none equal
    to an ``exclude`` item."""
    unknown = sorted(set(weights or {}) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)} in the weights; the tasks are "
                         f"{', '.join(sorted(TASKS))}")
    rng = random.Random(f"train-{seed}")
    names = sorted(TASKS)
    weights = [(weights or {}).get(n, TASKS[n].weight) for n in names]
    banned = {_key(ex) for items in (exclude or {}).values() for ex in items}
    out: list[Example] = []
    while len(out) < num_items:
        ex = TASKS[rng.choices(names, weights)[0]].make(rng)
        if _key(ex) not in banned:
            out.append(ex)
    return out
