"""A constrained choice (``llm_filter``'s yes/no) asked of a server that only speaks chat.

Where the server supports structured output, the request carries a JSON schema whose one
property is an enum of the choices, so the answer always parses. Otherwise the free answer is
read: the whole answer, else its first word, matched exactly, then ignoring case.

>>> response_format(("yes", "no"))["json_schema"]["schema"]["properties"]
{'answer': {'type': 'string', 'enum': ['yes', 'no']}}
>>> [parse_choice(t, ("yes", "no", "Yes", "No")) for t in ['{"answer": "no"}', "Yes.", "YES", "maybe"]]
[1, 2, 0, None]
"""

from __future__ import annotations

import json
import re
from typing import Any

_FIELD = "answer"
_FIRST_WORD = re.compile(r"\w+")


def response_format(choices: tuple[str, ...]) -> dict[str, Any]:
    """The ``response_format`` of a chat request whose answer must be one of ``choices``."""
    schema = {"type": "object", "properties": {_FIELD: {"type": "string", "enum": list(choices)}},
              "required": [_FIELD], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "choice", "strict": True,
                                                    "schema": schema}}


def parse_choice(text: str, choices: tuple[str, ...]) -> int | None:
    """The index of the choice ``text`` gives, or ``None`` when it gives none."""
    answer = text.strip()
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get(_FIELD), str):
        answer = parsed[_FIELD].strip()
    match = _FIRST_WORD.match(answer)
    for candidate in (answer, match.group(0) if match else None):
        if candidate is None:
            continue
        if candidate in choices:
            return choices.index(candidate)
        folded = [c.casefold() for c in choices]
        if candidate.casefold() in folded:
            return folded.index(candidate.casefold())
    return None
