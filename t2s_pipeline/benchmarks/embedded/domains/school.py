"""School: departments, students, courses and the enrollments linking students to courses."""

from __future__ import annotations

import random

from ..schema import Column, Domain, Link, Table
from ..words import CITIES, person_names, skewed_choice

DEPARTMENTS = (
    "Physics", "Mathematics", "History", "Biology", "Chemistry", "Economics",
    "Philosophy", "Computer Science", "Literature", "Music", "Psychology", "Geography",
    "Sociology", "Engineering", "Art History",
)
BUILDINGS = ("Baker Hall", "Carson Hall", "Ellis Hall", "Foster Hall", "Grant Hall")
SUBJECTS = (
    "Algebra", "Calculus", "Statistics", "Genetics", "Ecology", "Mechanics", "Optics", "Databases",
    "Algorithms", "Poetry", "Drama", "Ethics", "Logic", "Harmony", "Cartography", "Microeconomics",
)
GRADES = ("A", "B", "C", "D", "F")

TABLES = (
    Table("department", "department", "departments", (
        Column("department_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("building", "TEXT", "building", "category", eq=("located in {v}", "housed in {v}")),
        Column("budget", "INTEGER", "budget", "number", summable=True),
        Column("founded_year", "INTEGER", "founding year", "ordinal"),
    ), ("department_id",)),
    Table("student", "student", "students", (
        Column("student_id", "INTEGER"),
        Column("name", "TEXT", "name", "label"),
        Column("city", "TEXT", "city", "category", plural="cities", eq=("from {v}", "living in {v}")),
        Column("age", "INTEGER", "age", "number"),
        Column("department_id", "INTEGER", references="department.department_id", via="majoring in"),
    ), ("student_id",)),
    Table("course", "course", "courses", (
        Column("course_id", "INTEGER"),
        Column("title", "TEXT", "title", "label"),
        Column("credits", "INTEGER", "number of credits", "number", plural="numbers of credits"),
        Column("department_id", "INTEGER", references="department.department_id", via="offered by"),
    ), ("course_id",)),
    Table("enrollment", "enrollment", "enrollments", (
        Column("student_id", "INTEGER", references="student.student_id"),
        Column("course_id", "INTEGER", references="course.course_id"),
        Column("grade", "TEXT", "grade", "category", eq=("with grade {v}", "graded {v}")),
        Column("year", "INTEGER", "year", "ordinal"),
    ), ("student_id", "course_id")),
)
LINKS = (
    Link("student", "enrollment", "course", "student_id", "course_id",
         "enrolled in {v}", "not enrolled in {v}", "taken by {v}", "not taken by {v}"),
)


def populate(rng: random.Random) -> dict[str, list[tuple]]:
    departments = [
        (i, name, rng.choice(BUILDINGS), rng.randrange(150, 900) * 1000, rng.randrange(1850, 1990))
        for i, name in enumerate(DEPARTMENTS, start=1)
    ]
    # The last departments get no students or courses, so "without any" questions have answers.
    staffed = [d[0] for d in departments[:-2]]
    students = [
        (i, name, city, rng.randrange(17, 27), rng.choice(staffed))
        for i, (name, city) in enumerate(zip(person_names(rng, 50), skewed_choice(rng, CITIES[:8], 50)), start=1)
    ]
    titles = rng.sample([f"{level} {s}" for s in SUBJECTS for level in ("Introduction to", "Advanced")], 30)
    courses = [(i, title, rng.choice((1, 2, 3, 3, 4, 5)), rng.choice(staffed)) for i, title in enumerate(titles, 1)]
    pairs = rng.sample([(s[0], c[0]) for s in students[:44] for c in courses[:26]], 60)
    enrollments = [(s, c, rng.choice(GRADES), rng.randrange(2019, 2025)) for s, c in sorted(pairs)]
    return {"department": departments, "student": students, "course": courses, "enrollment": enrollments}


DOMAIN = Domain("school", TABLES, LINKS, populate)
