"""The ``procedural`` source: questions in all four patterns drawn from a seeded world.

Each question is a *plan* (root entities, the fields walked from them, a final
computation, how parallel chains merge); the ``decompose:procedural`` stage turns the
plan into sub-questions by walking the world. Splits: every root entity belongs to one
split (a stable hash of seed and name), and a question only starts from roots of its
split, so train and test share no question and no entity chain.
"""

from __future__ import annotations

import hashlib
import random
from typing import Iterator

from toolfeedback import hookimpl
from toolfeedback.build.construction import Question
from toolfeedback.errors import ConfigError
from toolfeedback.types import Pattern
from toolfeedback.contracts import Source

from .procedural_world import SCHEMA, UNIT_FIELDS, make_world, stable_unit

#: attempts at drawing a fresh (not yet asked) question before the index is given up.
MAX_ATTEMPTS = 32


def _is_link(kind: str, field: str) -> bool:
    return SCHEMA[kind][field] in SCHEMA


def _computations(kind: str, field: str) -> list[str]:
    fkind = SCHEMA[kind][field]
    if fkind == "date":
        return ["weekday", "days_until"]
    if field in UNIT_FIELDS:
        return ["convert"]
    return []


def draw_path(rng: random.Random, kind: str, length: int) -> tuple[list[str], str | None]:
    """Fields walked from an entity of ``kind`` in ``length`` sub-questions, and the final
    computation (``convert``, ``weekday``, ``days_until`` or None) that ends it."""
    ends = ["link", "attr"] + (["compute"] if length >= 2 else [])
    end = rng.choice(ends)
    links = {"link": length, "attr": length - 1, "compute": length - 2}[end]
    fields: list[str] = []
    for _ in range(links):
        field = rng.choice([f for f in SCHEMA[kind] if _is_link(kind, f)])
        fields.append(field)
        kind = SCHEMA[kind][field]
    if end == "link":
        return fields, None
    attrs = [f for f in SCHEMA[kind] if not _is_link(kind, f)]
    if end == "compute":
        computable = [f for f in attrs if _computations(kind, f)]
        if computable:
            field = rng.choice(computable)
            return fields + [field], rng.choice(_computations(kind, field))
        # No computable attribute here: one more link keeps the hop count.
        field = rng.choice([f for f in SCHEMA[kind] if _is_link(kind, f)])
        fields.append(field)
        kind = SCHEMA[kind][field]
        attrs = [f for f in SCHEMA[kind] if not _is_link(kind, f)]
    return fields + [rng.choice(attrs)], None


def final_kind(root_kind: str, fields: list[str], compute: str | None) -> str:
    """Value kind at the end of a chain (``int``, ``float``, ``date``, ``text``, a type, ...)."""
    if compute in ("convert",):
        return "float"
    if compute == "days_until":
        return "int"
    if compute == "weekday":
        return "text"
    kind = root_kind
    for field in fields[:-1]:
        kind = SCHEMA[kind][field]
    return SCHEMA[kind][fields[-1]]


class ProceduralSource(Source):
    """Seeded questions over a generated world; no model needed, any scale."""

    name = "procedural"
    default_stages = "procedural"

    def split_of(self, seed: int, name: str, test_fraction: float) -> str:
        """The split a root entity belongs to."""
        return "test" if stable_unit("split", seed, name) < test_fraction else "train"

    def check(self, config) -> None:
        """Raise :class:`ConfigError` when the config cannot produce its patterns."""
        patterns = [Pattern(p) for p in config.patterns]
        if config.max_hops < 2 and any(p in (Pattern.MULTI_HOP, Pattern.PARALLEL_MULTI_HOP)
                                       for p in patterns):
            raise ConfigError("max_hops must be at least 2 for multi-hop patterns")
        if config.max_width < 2 and any(p in (Pattern.PARALLEL_SINGLE_HOP, Pattern.PARALLEL_MULTI_HOP)
                                        for p in patterns):
            raise ConfigError("max_width must be at least 2 for parallel patterns")

    def expected_count(self, config) -> int:
        """``config.n`` questions."""
        return config.n

    def scenarios(self, config, ctx) -> Iterator[Question]:
        """Yield ``config.n`` plans lazily (see module doc); duplicates are redrawn."""
        self.check(config)
        patterns = [Pattern(p) for p in config.patterns]
        world = make_world(config.seed, config.world_scale)
        ctx.resources["world"] = world
        pools = {split: {kind: [n for n in names
                                if self.split_of(config.seed, n, config.test_fraction) == split]
                         for kind, names in world.entities.items()}
                 for split in ("train", "test")}
        # Only digests of what was asked are kept: 8 bytes per question, not the questions.
        seen: set[bytes] = set()
        for index in range(config.n):
            for attempt in range(MAX_ATTEMPTS):
                rng = random.Random(f"question:{config.seed}:{index}:{attempt}")
                split = "test" if rng.random() < config.test_fraction else "train"
                plan = self.plan(rng, patterns[index % len(patterns)] if config.balanced
                                 else rng.choice(patterns), pools[split], config)
                if plan is None:
                    continue
                key = hashlib.blake2b(repr(sorted(plan.items())).encode(), digest_size=8).digest()
                if key in seen:
                    continue
                seen.add(key)
                yield Question(id=f"proc-{config.seed}-{index:06d}", split=split, payload=plan)
                break
            else:
                yield Question(id=f"proc-{config.seed}-{index:06d}", split="train",
                               payload={"exhausted": MAX_ATTEMPTS})

    def plan(self, rng: random.Random, pattern: Pattern, pool: dict[str, list[str]], config):
        """One question plan, or None when the split's pool cannot serve this draw."""
        width, length, merge = 1, 1, None
        if pattern in (Pattern.PARALLEL_SINGLE_HOP, Pattern.PARALLEL_MULTI_HOP):
            width = rng.randint(2, config.max_width)
        if pattern == Pattern.MULTI_HOP:
            length = rng.randint(2, config.max_hops)
        kind = rng.choice(list(SCHEMA))
        if len(pool[kind]) < width:
            return None
        if pattern == Pattern.PARALLEL_MULTI_HOP:
            # Either chains of >= 2 hops joined, or chains summed by one more call.
            length = rng.randint(1, config.max_hops - 1)
            fields, compute = draw_path(rng, kind, length)
            numeric = final_kind(kind, fields, compute) in ("int", "float")
            if numeric and (length == 1 or rng.random() < 0.6):
                merge = "sum"
            elif length == 1:
                length = rng.randint(2, config.max_hops)
                fields, compute = draw_path(rng, kind, length)
        else:
            fields, compute = draw_path(rng, kind, length)
        roots = rng.sample(pool[kind], width)
        return {"pattern": pattern.value, "kind": kind, "roots": roots, "fields": fields,
                "compute": compute, "merge": merge}


@hookimpl
def register_sources(register):
    register(ProceduralSource())
