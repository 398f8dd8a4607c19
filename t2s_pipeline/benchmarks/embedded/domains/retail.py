"""Retail: stores, customers, products and the orders tying them together."""

from __future__ import annotations

import random

from ..schema import Column, Domain, Link, Table
from ..words import CITIES, person_names, skewed_choice

STORE_NAMES = (
    "Northside Market", "Harbor Goods", "Maple Street Shop", "Riverside Outlet", "Central Plaza Store",
    "Sunset Mall", "Oak Grove Market", "Lakeview Store", "Union Square Shop", "Hilltop Traders",
    "Pine Valley Outlet", "Eastgate Market", "Westfield Corner", "Bayside Emporium", "Summit Supplies",
)
PRODUCTS = {
    "Electronics": ("Wireless Mouse", "USB Keyboard", "Bluetooth Speaker", "Smart Watch", "Desk Lamp", "Headphones"),
    "Kitchen": ("Coffee Grinder", "Steel Kettle", "Chef Knife", "Cutting Board", "Blender", "Toaster"),
    "Sports": ("Yoga Mat", "Tennis Racket", "Running Shoes", "Water Bottle", "Jump Rope", "Soccer Ball"),
    "Books": ("Travel Guide", "Cookbook", "Atlas", "Dictionary", "Puzzle Book", "Sketchbook"),
    "Garden": ("Garden Hose", "Flower Pot", "Pruning Shears", "Bird Feeder", "Watering Can", "Seed Kit"),
}

TABLES = (
    Table("store", "store", "stores", (
        Column("store_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("located in {v}", "in {v}")),
        Column("opened_year", "INTEGER", "opening year", "ordinal"),
    ), ("store_id",)),
    Table("customer", "customer", "customers", (
        Column("customer_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("from {v}", "living in {v}")),
        Column("signup_year", "INTEGER", "signup year", "ordinal"),
    ), ("customer_id",)),
    Table("product", "product", "products", (
        Column("product_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("category", "TEXT", "category", "category", plural="categories", eq=("in the {v} category",)),
        Column("price", "REAL", "price", "number"),
    ), ("product_id",)),
    Table("orders", "order", "orders", (
        Column("order_id", "INTEGER"),
        Column("customer_id", "INTEGER", references="customer.customer_id"),
        Column("product_id", "INTEGER", references="product.product_id"),
        Column("store_id", "INTEGER", references="store.store_id"),
        Column("quantity", "INTEGER", "quantity", "number", summable=True),
        Column("order_year", "INTEGER", "order year", "ordinal"),
    ), ("order_id",)),
)
LINKS = (
    Link("customer", "orders", "product", "customer_id", "product_id",
         "who ordered {v}", "who never ordered {v}", "ordered by {v}", "never ordered by {v}"),
    Link("customer", "orders", "store", "customer_id", "store_id",
         "who shopped at {v}", "who never shopped at {v}", "visited by {v}", "never visited by {v}"),
)


def populate(rng: random.Random) -> dict[str, list[tuple]]:
    stores = [
        (i, name, city, rng.randrange(1985, 2022))
        for i, (name, city) in enumerate(zip(STORE_NAMES, skewed_choice(rng, CITIES[:6], 15)), 1)
    ]
    customers = [
        (i, name, city, rng.randrange(2012, 2025))
        for i, (name, city) in enumerate(zip(person_names(rng, 35), skewed_choice(rng, CITIES[:8], 35)), 1)
    ]
    catalog = [(category, name) for category, names in PRODUCTS.items() for name in names]
    products = [
        (i, name, category, round(rng.randrange(5, 200) - 0.01, 2))
        for i, (category, name) in enumerate(catalog, 1)
    ]
    orders = [  # the last customers, products and stores never appear in an order
        (i, rng.randrange(1, 31), rng.randrange(1, 27), rng.randrange(1, 13), rng.randrange(1, 9),
         rng.randrange(2018, 2025))
        for i in range(1, 61)
    ]
    return {"store": stores, "customer": customers, "product": products, "orders": orders}


DOMAIN = Domain("retail", TABLES, LINKS, populate)
