"""The embedded benchmark's databases, one module per domain."""

from .flights import DOMAIN as FLIGHTS
from .hospital import DOMAIN as HOSPITAL
from .library import DOMAIN as LIBRARY
from .retail import DOMAIN as RETAIL
from .school import DOMAIN as SCHOOL

ALL_DOMAINS = (SCHOOL, LIBRARY, RETAIL, HOSPITAL, FLIGHTS)
