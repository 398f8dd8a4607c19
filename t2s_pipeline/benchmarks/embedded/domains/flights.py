"""Flights: airlines, airports, the flights between airports and the pilots airlines employ."""

from __future__ import annotations

import random

from ..schema import Column, Domain, Link, Table
from ..words import COUNTRIES, person_names, skewed_choice

AIRLINES = (
    ("Blue Sky Airways", "BS"), ("Northern Air", "NA"), ("Pacific Wings", "PW"), ("Coastal Jet", "CJ"),
    ("Eagle Airlines", "EA"), ("Sunrise Air", "SR"), ("Polar Express Air", "PX"), ("Atlas Airways", "AT"),
    ("Crown Airlines", "CR"), ("Island Hopper", "IH"), ("Metro Air", "MA"), ("Vista Airlines", "VA"),
    ("Horizon Link", "HL"), ("Southern Cross Air", "SC"), ("Redwood Airways", "RW"),
)
AIRPORTS = (
    ("Logan International", "Boston"), ("Midway Airport", "Chicago"), ("Denver International", "Denver"),
    ("Tacoma Field", "Seattle"), ("Bergstrom Airport", "Austin"), ("Hartsfield Airport", "Atlanta"),
    ("Harbor Airport", "Phoenix"), ("Love Field", "Dallas"), ("Hobby Airport", "Houston"),
    ("Lindbergh Field", "San Diego"), ("Kennedy International", "New York"), ("Newark Liberty", "New York"),
    ("Ohare International", "Chicago"), ("Wayne County Airport", "Detroit"), ("Miami International", "Miami"),
)

TABLES = (
    Table("airline", "airline", "airlines", (
        Column("airline_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("country", "TEXT", "country", "category", plural="countries", eq=("based in {v}", "from {v}")),
        Column("founded_year", "INTEGER", "founding year", "ordinal"),
    ), ("airline_id",)),
    Table("airport", "airport", "airports", (
        Column("airport_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("located in {v}", "in {v}")),
        Column("elevation", "INTEGER", "elevation", "number"),
    ), ("airport_id",)),
    Table("flight", "flight", "flights", (
        Column("flight_id", "INTEGER"),
        Column("flight_number", "TEXT", "flight number", "label"),
        Column("airline_id", "INTEGER", references="airline.airline_id", via="operated by"),
        Column("origin_airport_id", "INTEGER", references="airport.airport_id", via="departing from",
               child_noun=("departing flight", "departing flights")),
        Column("destination_airport_id", "INTEGER", references="airport.airport_id", via="arriving at",
               child_noun=("arriving flight", "arriving flights")),
        Column("distance", "INTEGER", "distance", "number", summable=True),
    ), ("flight_id",)),
    Table("pilot", "pilot", "pilots", (
        Column("pilot_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("age", "INTEGER", "age", "number"),
        Column("airline_id", "INTEGER", references="airline.airline_id", via="employed by"),
    ), ("pilot_id",)),
)
LINKS = (
    Link("airline", "flight", "airport", "airline_id", "destination_airport_id",
         "flying to {v}", "not flying to {v}", "served by {v}", "not served by {v}"),
)


def populate(rng: random.Random) -> dict[str, list[tuple]]:
    airlines = [
        (i, name, country, rng.randrange(1930, 2015))
        for i, ((name, _), country) in enumerate(zip(AIRLINES, skewed_choice(rng, COUNTRIES[:6], 15)), 1)
    ]
    airports = [(i, name, city, rng.randrange(0, 540) * 10) for i, (name, city) in enumerate(AIRPORTS, 1)]
    flights = []
    for i in range(1, 61):  # airlines 13-15 fly nothing; airport 15 sees no traffic
        airline = rng.randrange(1, 13)
        origin, destination = rng.sample(range(1, 15), 2)
        number = f"{AIRLINES[airline - 1][1]} {100 + i * 7}"
        flights.append((i, number, airline, origin, destination, rng.randrange(20, 300) * 10))
    pilots = [(i, name, rng.randrange(26, 64), rng.randrange(1, 14)) for i, name in enumerate(person_names(rng, 30), 1)]
    return {"airline": airlines, "airport": airports, "flight": flights, "pilot": pilots}


DOMAIN = Domain("flights", TABLES, LINKS, populate)
