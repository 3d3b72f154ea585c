"""Constrained answers asked of a server that only speaks chat: a choice (``llm_filter``'s
yes/no) and a typed answer (``returns =>``, ``llm_classify``, ``llm_score``).

Where the server supports structured output, the request carries a JSON schema as
``response_format``, so the answer always parses: for a choice, an object whose one property
is an enum of the choices; for a typed answer, the call's own schema, as the local engine decodes
under it (vLLM, SGLang, llama.cpp and ``heliumsql serve`` take any schema; OpenAI's hosted API
wants an object at the root and refuses the others, which then fall back to a free answer).
Otherwise a choice's free answer is read: the whole answer, else its first word, matched exactly,
then ignoring case.

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
    return schema_format(schema, "choice")


def schema_format(schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    """The ``response_format`` of a chat request whose answer must be JSON that ``schema``
    accepts.

    >>> schema_format({"type": "integer"})["json_schema"]
    {'name': 'answer', 'strict': True, 'schema': {'type': 'integer'}}
    """
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


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
