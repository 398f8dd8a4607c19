"""Hospital: departments, doctors, patients and the appointments between doctors and patients."""

from __future__ import annotations

import random

from ..schema import Column, Domain, Link, Table
from ..words import CITIES, person_names, skewed_choice

DEPARTMENTS = (
    "Cardiology", "Neurology", "Oncology", "Pediatrics", "Radiology", "Orthopedics",
    "Dermatology", "Emergency", "Psychiatry", "Urology", "Nephrology", "Ophthalmology",
    "Pulmonology", "Rheumatology", "Geriatrics",
)
BLOOD_TYPES = ("O+", "A+", "B+", "AB+", "O-", "A-")
STATUSES = ("completed", "scheduled", "cancelled")

TABLES = (
    Table("department", "department", "departments", (
        Column("department_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("floor", "INTEGER", "floor", "ordinal", eq=("on floor {v}",)),
        Column("beds", "INTEGER", "number of beds", "number", plural="bed counts", summable=True),
    ), ("department_id",)),
    Table("doctor", "doctor", "doctors", (
        Column("doctor_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("years_experience", "INTEGER", "years of experience", "number", plural="years of experience"),
        Column("salary", "INTEGER", "salary", "number", plural="salaries", summable=True),
        Column("department_id", "INTEGER", references="department.department_id", via="working in"),
    ), ("doctor_id",)),
    Table("patient", "patient", "patients", (
        Column("patient_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("from {v}", "living in {v}")),
        Column("age", "INTEGER", "age", "number"),
        Column("blood_type", "TEXT", "blood type", "category", eq=("with blood type {v}",)),
    ), ("patient_id",)),
    Table("appointment", "appointment", "appointments", (
        Column("appointment_id", "INTEGER"),
        Column("doctor_id", "INTEGER", references="doctor.doctor_id"),
        Column("patient_id", "INTEGER", references="patient.patient_id"),
        Column("visit_year", "INTEGER", "visit year", "ordinal"),
        Column("cost", "REAL", "cost", "number", summable=True),
        Column("status", "TEXT", "status", "category", plural="statuses", eq=("with status {v}", "marked {v}")),
    ), ("appointment_id",)),
)
LINKS = (
    Link("patient", "appointment", "doctor", "patient_id", "doctor_id",
         "treated by {v}", "never treated by {v}", "who treated {v}", "who never treated {v}"),
)


def populate(rng: random.Random) -> dict[str, list[tuple]]:
    departments = [(i, name, rng.randrange(1, 7), rng.randrange(8, 60)) for i, name in enumerate(DEPARTMENTS, 1)]
    doctors = [
        (i, name, rng.randrange(1, 35), rng.randrange(90, 400) * 1000, rng.randrange(1, 13))
        for i, name in enumerate(person_names(rng, 25), 1)  # departments 13-15 have no doctors
    ]
    patients = [
        (i, name, city, rng.randrange(1, 90), rng.choice(BLOOD_TYPES))
        for i, (name, city) in enumerate(zip(person_names(rng, 40), skewed_choice(rng, CITIES[4:12], 40)), 1)
    ]
    appointments = [
        (i, rng.randrange(1, 22), rng.randrange(1, 35), rng.randrange(2019, 2025),
         round(rng.randrange(40, 900) + 0.5, 2), rng.choice(STATUSES))
        for i in range(1, 61)  # doctors 22+ and patients 35+ have no appointments
    ]
    return {"department": departments, "doctor": doctors, "patient": patients, "appointment": appointments}


DOMAIN = Domain("hospital", TABLES, LINKS, populate)
