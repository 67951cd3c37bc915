"""Error answers of the JSON API and their documentation. Every error is ``{"detail": "<ein deutscher Satz>"}``;
a validation error adds ``errors`` (which fields, in pydantic's terms, for programs), a 409 may add what it is
about (``flags``, ``unconfirmed``, ``case``, ``field``). ``errors(…)`` documents the codes a route returns, and
``install_errors`` makes the server and the OpenAPI spec agree on the 422."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import KontorError, reason

Responses = dict[int | str, dict[str, Any]]

class ErrorOut(BaseModel):
    """Every error answer; a 409 may carry more fields (e.g. ``flags`` and ``unconfirmed`` of a send)."""

    model_config = ConfigDict(extra="allow")
    detail: str = Field(description="one German sentence for people")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='where, e.g. ["path", "ticket_id"] or ["body", "text"]')
    msg: str = Field(description="pydantic's (English) message")
    type: str = Field(description="pydantic's error type, e.g. less_than_equal")


class ValidationErrorOut(ErrorOut):
    """422: ``detail`` names the fields in German; ``errors`` lists them (empty for a rule beyond the schema,
    e.g. a text of blanks)."""

    errors: list[FieldError] = Field(default_factory=list)


_WHY = {
    401: "not logged in, session or token expired or revoked, or name and password wrong",
    403: "the role is missing, the CSRF token is wrong, or the request comes from another site",
    404: "no such object",
    409: "the object's state does not allow it",
    413: "the request (over `max_request_bytes`), a file or a message is too large",
    422: "invalid input",
    429: "too many failed attempts from this address; wait `Retry-After` seconds",
    503: "the model file is missing or not the registered one, or the model failed",
}
_SCHEMAS = {"ErrorOut": ErrorOut, "HTTPValidationError": ValidationErrorOut}  # FastAPI's name for its 422
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def errors(*codes: int | tuple[int, str]) -> Responses:
    """The documented error answers of a route: ``errors(404, (409, "why, for this route"))``."""
    documented: Responses = {}
    for entry in codes:
        code, why = entry if isinstance(entry, tuple) else (entry, _WHY[entry])
        # JSON also on a route that streams or sends HTML (FastAPI would give ``model`` the route's media type)
        name = "HTTPValidationError" if code == 422 else "ErrorOut"
        documented[code] = {"description": why,
                            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                            **({"headers": _RETRY_AFTER} if code == 429 else {})}
    return documented


AUTHENTICATED = errors(401, 403, 413)  # every /api route but the health check (413: ``BodyLimit``, any route)


def install_errors(app: FastAPI) -> None:
    """The handlers for every error the API answers, and the spec's schemas for them."""
    app.add_exception_handler(KontorError, _kontor_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_schemas(plain())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


async def json_error(request: Request, exc: Exception) -> Response:
    """The API's answer to any error it handles (the pages answer browsers with German pages instead)."""
    if isinstance(exc, KontorError):
        return _kontor_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return _invalid(request, exc)
    return await _http_error(request, exc)


def _kontor_error(_: Request, exc: Exception) -> JSONResponse:
    """Every error Kontor reports to people: its status, its German sentence, its extra fields (e.g. the promises
    to confirm of a 409) and headers (``Retry-After`` of a 429)."""
    assert isinstance(exc, KontorError)
    return JSONResponse({"detail": str(exc), **exc.extra}, status_code=exc.status, headers=exc.headers())


def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
             for e in exc.errors()]  # not ``input``: it would echo a password back
    return JSONResponse({"detail": german(exc.errors()), "errors": found}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI answers a body it cannot read at all (bytes that are no UTF-8, a broken form) with an English 400,
    but a broken JSON text with a 422: for the client both are the same mistake, so both are a German 422."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        return JSONResponse({"detail": "Ungültige Anfrage: der Inhalt ist kein lesbares JSON oder Formular.",
                             "errors": []}, status_code=422)
    return await http_exception_handler(request, exc)


def _document_schemas(spec: dict[str, Any]) -> None:
    """The error schemas ``errors`` refers to. FastAPI documents its own 422 as ``{"detail": [errors]}`` under
    ``HTTPValidationError``; that name now means ``ValidationErrorOut``, the answer ``_invalid`` gives."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _SCHEMAS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas.pop("ValidationError", None)  # FastAPI's item schema, no longer referenced


# --- the German sentence ------------------------------------------------------------------------------------

_PLACES = {"path": "im Pfad", "query": "in der Abfrage", "header": "im Kopf", "cookie": "im Cookie",
           "body": "im Inhalt"}
def german(found: Sequence[Any], at_most: int = 3) -> str:
    """``Ungültige Anfrage: „ticket_id“ im Pfad darf höchstens 2147483647 sein.`` – at most three fields."""
    parts = [_one(e) for e in found[:at_most]]
    more = f" (und {len(found) - at_most} weitere Fehler)" if len(found) > at_most else ""
    return f"Ungültige Anfrage: {'; '.join(parts) or 'unbekannter Fehler'}{more}."


def _one(error: Any) -> str:
    where, *names = [str(part) for part in error.get("loc") or ("body",)]
    says = reason(error)
    place = _PLACES.get(where, f"in {where}")
    if error.get("type") == "json_invalid" or not names:  # the whole body (or a position in a broken JSON)
        return f"der Inhalt {says}" if where == "body" else f"ein Wert {place} {says}"
    return f"„{'.'.join(names)}“ {place} {says}"
