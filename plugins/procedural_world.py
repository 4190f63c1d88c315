"""The seeded world behind the ``procedural`` source: entities, attributes and relations.

Six entity types (people, cities, countries, companies, products, events), each with
attributes (dates, numbers, text) and links to other entities. Everything is drawn from
``random.Random`` instances seeded with strings, and every collection is a list or an
insertion-ordered dict, so the same seed gives the same world on every run and platform
(no hash randomization, no set iteration).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from functools import lru_cache

from attrs import frozen

#: field kinds: ``date`` (YYYY-MM-DD), ``int``, ``float`` (one or two decimals), ``text``,
#: or an entity type name for a link.
SCHEMA: dict[str, dict[str, str]] = {
    "person": {"birth_city": "city", "employer": "company", "birth_date": "date",
               "height_cm": "int"},
    "city": {"country": "country", "population": "int", "area_km2": "float",
             "founded_year": "int"},
    "country": {"capital": "city", "currency": "text", "population": "int",
                "calling_code": "text"},
    "company": {"headquarters": "city", "ceo": "person", "founded_date": "date",
                "employees": "int", "revenue_musd": "int"},
    "product": {"maker": "company", "launch_date": "date", "price_usd": "float",
                "weight_kg": "float"},
    "event": {"venue": "city", "organizer": "company", "date": "date", "attendance": "int"},
}

#: how each field reads in a question: "the {label} of X".
LABELS: dict[str, str] = {
    "birth_city": "city of birth", "employer": "employer", "birth_date": "date of birth",
    "height_cm": "height in centimetres", "country": "country", "population": "population",
    "area_km2": "area in square kilometres", "founded_year": "founding year",
    "capital": "capital", "currency": "currency", "calling_code": "international calling code",
    "headquarters": "headquarters city", "ceo": "chief executive", "founded_date": "founding date",
    "employees": "number of employees", "revenue_musd": "annual revenue in millions of US dollars",
    "maker": "manufacturer", "launch_date": "launch date", "price_usd": "price in US dollars",
    "weight_kg": "weight in kilograms", "venue": "host city", "organizer": "organizer",
    "date": "date", "attendance": "attendance",
}

#: numeric fields with a unit that the unit converter understands: field -> (from, to, label).
UNIT_FIELDS: dict[str, tuple[str, str, str]] = {
    "height_cm": ("cm", "in", "inches"), "area_km2": ("km2", "mi2", "square miles"),
    "weight_kg": ("kg", "lb", "pounds"), "price_usd": ("usd", "eur", "euros"),
}
#: unit conversion factors (from, to) -> factor; the converter's whole table.
CONVERSIONS: dict[tuple[str, str], float] = {
    ("cm", "in"): 1 / 2.54, ("in", "cm"): 2.54, ("km2", "mi2"): 0.386102, ("mi2", "km2"): 2.589988,
    ("kg", "lb"): 2.204623, ("lb", "kg"): 0.453592, ("usd", "eur"): 0.92, ("eur", "usd"): 1 / 0.92,
    ("m", "ft"): 3.28084, ("ft", "m"): 0.3048, ("km", "mi"): 0.621371, ("mi", "km"): 1.609344,
}
#: the day every "days until" question counts to.
REFERENCE_DATE = "2030-01-01"

_SYL = ["ka", "lo", "mi", "ra", "ven", "sol", "tor", "ani", "bel", "cor", "dra", "el", "fen", "gal",
        "hul", "ist", "jor", "kel", "lun", "mar", "nor", "ov", "pra", "qui", "ros", "sen", "tal",
        "ur", "vas", "wen", "yor", "zan", "bri", "cas", "del", "fio", "gor", "hal"]
_CITY_SUFFIX = ["ford", "vale", "port", "burg", "mere", "haven", " City", "stead", "wick"]
_COMPANY_SUFFIX = ["Systems", "Labs", "Holdings", "Works", "Dynamics", "Foods", "Motors", "Media"]
_PRODUCT_SUFFIX = ["Pro", "Mini", "X", "Air", "Max", "One", "Lite", "Plus"]
_EVENT_KIND = ["Festival", "Summit", "Expo", "Marathon", "Fair", "Symposium", "Games", "Forum"]
_CURRENCY = ["dollar", "krona", "mark", "peso", "dinar", "florin", "crown", "lira"]

#: default number of entities per type for ``world_size = 1`` (scaled linearly).
BASE_COUNTS = {"country": 24, "city": 120, "person": 400, "company": 160, "product": 240,
               "event": 120}


@frozen(eq=False)  # identity hash: worlds are cached and used as cache keys
class World:
    """A generated world: ``entities[type]`` is a list of names, ``facts[name]`` a dict of
    field -> value (links hold the linked entity's name), ``split[name]`` its split."""

    seed: int
    entities: dict[str, list[str]]
    facts: dict[str, dict[str, str]]
    kinds: dict[str, str]  # entity name -> type

    def value(self, name: str, field: str) -> str:
        """The value of ``field`` for entity ``name`` (a string, as tools print it)."""
        return self.facts[name][field]


def stable_unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts`` (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


def _word(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_SYL) for _ in range(n)).capitalize()


def _name(kind: str, rng: random.Random) -> str:
    if kind == "person":
        return f"{_word(rng, rng.randint(2, 3))} {_word(rng, rng.randint(2, 3))}"
    if kind == "city":
        return _word(rng, 2) + rng.choice(_CITY_SUFFIX)
    if kind == "country":
        stem = _word(rng, rng.randint(2, 3))
        return rng.choice([stem + "ia", "Republic of " + stem, stem + "land", stem + "stan"])
    if kind == "company":
        return f"{_word(rng, 2)} {rng.choice(_COMPANY_SUFFIX)}"
    if kind == "product":
        return f"{_word(rng, 2)} {rng.choice(_PRODUCT_SUFFIX)} {rng.randint(2, 90) * 10}"
    return f"{_word(rng, 2)} {rng.choice(_EVENT_KIND)} {rng.randint(2025, 2040)}"


def _date(rng: random.Random, first: int, last: int) -> str:
    start = dt.date(first, 1, 1).toordinal()
    return dt.date.fromordinal(rng.randint(start, dt.date(last, 12, 31).toordinal())).isoformat()


def _attribute(kind: str, field: str, name: str, rng: random.Random) -> str:
    ranges = {"height_cm": (150, 200), "population": (20_000, 9_000_000),
              "founded_year": (1100, 1990), "employees": (40, 250_000),
              "revenue_musd": (2, 90_000), "attendance": (300, 120_000)}
    if field in ranges:
        lo, hi = ranges[field]
        if kind == "country" and field == "population":
            lo, hi = 900_000, 150_000_000
        return str(rng.randint(lo, hi))
    if field == "area_km2":
        return f"{rng.uniform(15, 2500):.1f}"
    if field == "price_usd":
        return f"{rng.uniform(5, 3000):.2f}"
    if field == "weight_kg":
        return f"{rng.uniform(0.2, 80):.1f}"
    if field == "currency":
        return f"{name.split()[-1].rstrip('ia')}ian {rng.choice(_CURRENCY)}"
    if field == "calling_code":
        return f"+{rng.randint(200, 999)}"
    spans = {"birth_date": (1940, 2004), "founded_date": (1850, 2020),
             "launch_date": (1995, 2029), "date": (2025, 2040)}
    return _date(rng, *spans[field])


@lru_cache(maxsize=4)
def make_world(seed: int, size: float = 1.0) -> World:
    """Generate the world for ``seed``; ``size`` scales the number of entities per type."""
    rng = random.Random(f"world:{seed}")
    entities: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for kind, base in BASE_COUNTS.items():
        names: list[str] = []
        while len(names) < max(4, int(base * size)):
            name = _name(kind, rng)
            if name not in kinds:  # names are unique across the whole world
                kinds[name] = kind
                names.append(name)
        entities[kind] = names
    facts: dict[str, dict[str, str]] = {}
    for kind, names in entities.items():
        for name in names:
            row: dict[str, str] = {}
            for field, fkind in SCHEMA[kind].items():
                if fkind in SCHEMA:
                    row[field] = rng.choice(entities[fkind])
                else:
                    row[field] = _attribute(kind, field, name, rng)
            facts[name] = row
    # Make the world coherent where it is cheap: a country's capital lies in it.
    capitals = rng.sample(entities["city"], min(len(entities["city"]), len(entities["country"])))
    for country, capital in zip(entities["country"], capitals):
        facts[country]["capital"] = capital
        facts[capital]["country"] = country
    return World(seed=seed, entities=entities, facts=facts, kinds=kinds)


def convert(value: float, from_unit: str, to_unit: str) -> str:
    """The unit converter's arithmetic, shared with the generated tool code's table."""
    return f"{value * CONVERSIONS[(from_unit, to_unit)]:.2f}"


def weekday(date: str) -> str:
    """English weekday name of an ISO date."""
    return dt.date.fromisoformat(date).strftime("%A")


def days_between(start: str, end: str) -> str:
    """Days from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return str((dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days)


def add_numbers(values: list[str]) -> str:
    """The calculator's sum, formatted as the tool prints it (integers stay integers)."""
    if all("." not in v for v in values):
        return str(sum(int(v) for v in values))
    return f"{sum(float(v) for v in values):.2f}"
