"""Small word lists the databases are filled from (no quotes inside, so SQL literals stay simple)."""

from __future__ import annotations

import random

FIRST_NAMES = (
    "Alice", "Brian", "Carla", "Daniel", "Elena", "Frank", "Grace", "Hector", "Irene", "James",
    "Karen", "Liam", "Maria", "Nathan", "Olivia", "Peter", "Quinn", "Rosa", "Samuel", "Tina",
    "Umar", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Adam", "Bella", "Carlos", "Diana",
    "Ethan", "Fiona", "George", "Hannah", "Ivan", "Julia", "Kevin", "Laura", "Mohammed", "Nora",
)
LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas",
    "Moore", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
)
CITIES = (
    "Boston", "Chicago", "Denver", "Seattle", "Austin", "Portland", "Atlanta", "Miami", "Phoenix",
    "Dallas", "Detroit", "Houston", "San Diego", "New York", "Los Angeles",
)
COUNTRIES = (
    "France", "Germany", "Japan", "Brazil", "Canada", "Italy", "Spain", "India", "Mexico",
    "Sweden", "Australia", "Kenya",
)


def person_names(rng: random.Random, n: int) -> list[str]:
    """n distinct full names."""
    pool = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    return rng.sample(pool, n)


def skewed_choice(rng: random.Random, options, n: int) -> list:
    """n draws where earlier options are likelier, so GROUP BY counts differ between groups."""
    weights = [len(options) - i for i in range(len(options))]
    return rng.choices(list(options), weights=weights, k=n)
