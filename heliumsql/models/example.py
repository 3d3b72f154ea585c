"""One training or test item, described the way a SQL call would produce it.

An :class:`Example` holds the call's template, the row's column values and the expected answer, so
the same item can be rendered here (for training) or run through ``llm`` / ``llm_filter`` /
``llm_agg`` in SQL (for the end-to-end tests) and both see the same prompt text.

>>> ex = Example("sentiment", "llm", "Is it good? {review}", (("review", "Fine."),), "positive")
>>> ex.prompt
'Is it good? Fine.'
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("llm", "filter", "agg", "classify", "score")


@dataclass(frozen=True)
class Example:
    """A templated call, the values of its columns and the answer the model should give.

    ``fields`` are (column, value) pairs; for ``kind == "agg"`` each value is a tuple of the
    group's values. ``context`` names columns appended as ``"\\nname: value"`` lines (record-style
    calls). ``system`` is the optional system message (``system =>`` in SQL). ``options`` are a
    typed call's options as the SQL catalog holds them (``labels``, ``descriptions``, ``multi``;
    ``low``, ``high``; ``returns``): they put the call's format instruction before the template,
    and ``answer`` is then the JSON text the grammar lets the model write.
    """

    task: str
    kind: str
    template: str
    fields: tuple[tuple[str, object], ...]
    answer: str
    context: tuple[str, ...] = ()
    system: str | None = None
    options: tuple[tuple[str, object], ...] = ()

    @property
    def typed(self) -> bool:
        """Decoded under a JSON schema (``returns =>``, ``llm_classify``, ``llm_score``)."""
        return bool(self.options)

    @property
    def values(self) -> dict[str, object]:
        return dict(self.fields)

    @property
    def prompt(self) -> str:
        """The user message exactly as the SQL layer renders it."""
        from heliumsql.grammar.typed_calls import instruction

        values = {k: _render(v) for k, v in self.fields}
        text = instruction(dict(self.options)) + self.template.format(**values)
        return text + "".join(f"\n{name}: {values[name]}" for name in self.context)

    def messages(self) -> list[dict[str, str]]:
        """Chat messages for the tokenizer's chat template (system first when given)."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "user", "content": self.prompt}]


def _render(value: object) -> str:
    # llm_agg renders a group's values one per line, ordered by value (DuckDB string_agg ORDER BY).
    if isinstance(value, tuple):
        return "\n".join(sorted(str(v) for v in value))
    return str(value)
