"""The ``DateTime`` scalar, checked like every instant a client sends (``domain.instants``):
RFC 3339 with an offset, in years 0001-9999 in UTC. A bad value is refused while the
document is validated (literals) or its variables coerced, as a user error naming it."""

from __future__ import annotations

from datetime import datetime
from operator import methodcaller

from strawberry.types.scalar import ScalarDefinition

from ott_runtime.domain.instants import parse_instant

# same name and description as strawberry's own DateTime: the printed schema is unchanged
DATETIME = ScalarDefinition(
    name="DateTime",
    description="Date with time (isoformat)",
    specified_by_url=None,
    serialize=methodcaller("isoformat"),
    # a ValueError: graphql-core reports it with the value and where it is in the document
    parse_value=parse_instant,
    parse_literal=None,
    origin=datetime,
)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DATETIME}
