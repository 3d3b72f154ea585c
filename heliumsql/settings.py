"""HeliumSQL's own session settings, written as DuckDB ``SET`` statements.

| setting | connection attribute | values |
|---|---|---|
| ``helium_optimizer`` | ``optimize`` | true / false |
| ``helium_result_cache`` | ``use_result_cache`` | true / false |
| ``helium_reorder_fields`` | ``reorder_fields`` | true / false (``reorder =>``'s default) |
| ``helium_max_requests`` | ``max_requests`` | a whole number, or NULL (no limit) |

Any other ``SET`` is DuckDB's.

>>> parse_setting("SET helium_optimizer = false")
Setting(attribute='optimize', value=False)
>>> parse_setting("SET helium_max_requests = 10"), parse_setting("SET threads = 2")
(Setting(attribute='max_requests', value=10), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from heliumsql.errors import PlanError

_ATTRIBUTES = {"helium_optimizer": "optimize", "helium_result_cache": "use_result_cache",
               "helium_reorder_fields": "reorder_fields", "helium_max_requests": "max_requests"}


@dataclass(frozen=True)
class Setting:
    """Set connection attribute ``attribute`` to ``value``."""

    attribute: str
    value: Any


def parse_setting(text: str) -> Setting | None:
    """The HeliumSQL setting ``text`` makes, or None when it is not one of ours."""
    try:
        parsed = sqlglot.parse_one(text, read="helium")
    except Exception:  # noqa: BLE001 - not ours to read: DuckDB reports it
        return None
    item = parsed.expressions[0] if isinstance(parsed, exp.Set) and len(parsed.expressions) == 1 else None
    eq = item.this if isinstance(item, exp.SetItem) else None
    if not isinstance(eq, exp.EQ) or eq.this.name.lower() not in _ATTRIBUTES:
        return None
    name, value = eq.this.name.lower(), eq.expression
    if name == "helium_max_requests":
        if isinstance(value, exp.Null):
            return Setting("max_requests", None)
        if not str(value.name).isdigit():
            raise PlanError("SET helium_max_requests takes a whole number of requests, or NULL")
        return Setting("max_requests", int(value.name))
    truthy = value.this if isinstance(value, exp.Boolean) else \
        str(value.name).lower() in ("true", "on", "1")
    return Setting(_ATTRIBUTES[name], bool(truthy))
