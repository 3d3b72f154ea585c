"""The one error the server answers with, in OpenAI's error JSON."""

from __future__ import annotations

from typing import Any

from heliumsql.errors import HeliumError


class APIError(HeliumError):
    """A request the server refuses: ``status`` is the HTTP status; ``type``, ``param`` and
    ``code`` fill OpenAI's ``{"error": {...}}`` body, which the ``openai`` client turns into
    its matching exception (``BadRequestError``, ``AuthenticationError``, ``NotFoundError``).

    >>> APIError(400, "n must be at least 1", param="n").body()["error"]["param"]
    'n'
    """

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.type, self.param, self.code = type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}
