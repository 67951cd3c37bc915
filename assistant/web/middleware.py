"""The ASGI layers around the app: security headers on every response, and the request body limit."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every response: no inline script, no foreign origin, no framing, no sniffing, no referrer to other sites.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI: adds ``SECURITY_HEADERS`` to every response (pages, API, static files, errors, redirects);
    a response that sets its own policy (the self-contained evaluation report) keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """413 as JSON for a body over the limit: at once when its length is declared, while reading when it is
    streamed (chunked). Pure ASGI, so the body is never buffered beyond the limit."""

    UPLOAD_PATHS = ("/api/documents",)  # document uploads have their own, larger limit (max_file_bytes)

    def __init__(self, app: ASGIApp, limit: int, uploads: int) -> None:
        self.app, self.default, self.uploads = app, limit, uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads if scope["path"] in self.UPLOAD_PATHS else self.default
        detail = f"Anfrage zu groß (höchstens {limit} Bytes)"
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # FastAPI passes HTTPException from body reading on to the JSON handler
                raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
