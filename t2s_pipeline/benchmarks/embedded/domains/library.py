"""Library: authors, their books, members and the loans linking members to books."""

from __future__ import annotations

import random

from ..schema import Column, Domain, Link, Table
from ..words import CITIES, COUNTRIES, person_names, skewed_choice

GENRES = ("Mystery", "Fantasy", "Romance", "Science Fiction", "History", "Poetry", "Biography")
TITLE_HEADS = ("The Silent", "The Last", "A Distant", "The Hidden", "The Golden", "The Broken", "The Winter")
TITLE_TAILS = ("River", "Garden", "Kingdom", "Letter", "Harbor", "Mountain", "Secret", "Voyage")

TABLES = (
    Table("author", "author", "authors", (
        Column("author_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("country", "TEXT", "country", "category", plural="countries", eq=("from {v}", "born in {v}")),
        Column("birth_year", "INTEGER", "birth year", "ordinal"),
    ), ("author_id",)),
    Table("book", "book", "books", (
        Column("book_id", "INTEGER"),
        Column("title", "TEXT", "title", "label"),
        Column("genre", "TEXT", "genre", "category", eq=("in the {v} genre", "of genre {v}")),
        Column("pages", "INTEGER", "number of pages", "number", plural="page counts", summable=True),
        Column("publish_year", "INTEGER", "publication year", "ordinal"),
        Column("author_id", "INTEGER", references="author.author_id", via="written by"),
    ), ("book_id",)),
    Table("member", "member", "members", (
        Column("member_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("from {v}", "living in {v}")),
        Column("join_year", "INTEGER", "joining year", "ordinal"),
    ), ("member_id",)),
    Table("loan", "loan", "loans", (
        Column("loan_id", "INTEGER"),
        Column("book_id", "INTEGER", references="book.book_id"),
        Column("member_id", "INTEGER", references="member.member_id"),
        Column("loan_year", "INTEGER", "loan year", "ordinal"),
        Column("days", "INTEGER", "loan length in days", "number", summable=True),
    ), ("loan_id",)),
)
LINKS = (
    Link("member", "loan", "book", "member_id", "book_id",
         "who borrowed {v}", "who never borrowed {v}", "borrowed by {v}", "never borrowed by {v}"),
)


def populate(rng: random.Random) -> dict[str, list[tuple]]:
    authors = [
        (i, name, country, rng.randrange(1920, 1995))
        for i, (name, country) in enumerate(zip(person_names(rng, 20), skewed_choice(rng, COUNTRIES[:7], 20)), 1)
    ]
    titles = rng.sample([f"{head} {tail}" for head in TITLE_HEADS for tail in TITLE_TAILS], 45)
    books = [
        (i, title, rng.choice(GENRES), rng.randrange(12, 80) * 10, rng.randrange(1960, 2024), rng.randrange(1, 18))
        for i, title in enumerate(titles, 1)  # authors 18-20 have no books
    ]
    members = [
        (i, name, city, rng.randrange(2005, 2025))
        for i, (name, city) in enumerate(zip(person_names(rng, 30), skewed_choice(rng, CITIES[3:11], 30)), 1)
    ]
    loans = [
        (i, rng.randrange(1, 41), rng.randrange(1, 27), rng.randrange(2015, 2025), rng.randrange(3, 43))
        for i in range(1, 61)  # books 41+ and members 27+ are never lent / never borrow
    ]
    return {"author": authors, "book": books, "member": members, "loan": loans}


DOMAIN = Domain("library", TABLES, LINKS, populate)
