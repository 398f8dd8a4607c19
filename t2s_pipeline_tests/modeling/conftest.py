"""Fixtures of the model-side tests."""

import sqlite3

import pytest


@pytest.fixture()
def singer_db(tmp_path):
    """A one-row music database: the schema and the value ('France') a constraint's grammar is built from."""
    path = tmp_path / "music.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, country TEXT)")
        conn.execute("INSERT INTO singer VALUES (1, 'Rose', 'France')")
    return path
