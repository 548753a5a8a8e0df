"""uvicorn's protocols with JSON errors where uvicorn itself answers before the app can.

A request line or header that h11 rejects (``GARBAGE``, a header without a colon, TLS sent to
the plain port) never reaches the app: uvicorn answers 400 in plain text. A WebSocket handshake
that websockets refuses (no ``Sec-WebSocket-Key``, a wrong version) likewise gets text. The
service promises JSON for every error, so these subclasses write the same ``ErrorBody`` the
app's error handlers write. ``kwslab serve`` passes them to uvicorn as ``http=`` and ``ws=``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from kwslab.serve.schemas import ErrorBody

MALFORMED = "malformed HTTP request: the request line or a header could not be parsed"


def error_json(message: str, status: int) -> bytes:
    """The body of every error: ``{"error": message, "status": status}``."""
    return ErrorBody(error=message, status=status).model_dump_json(exclude_none=True).encode()


class JsonErrorH11Protocol(H11Protocol):
    """:class:`H11Protocol` whose parse-error 400 is ``{"error": ..., "status": 400}``."""

    def send_400_response(self, msg: str) -> None:
        """Write the 400 as JSON and close, as uvicorn does (``msg`` is uvicorn's text)."""
        body = error_json(MALFORMED, 400)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=STATUS_PHRASES[400]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def websocket_protocol() -> Any:
    """uvicorn's WebSocket protocol on websockets' sans-I/O side, with JSON refusals; None
    where websockets (or that uvicorn module) is missing: uvicorn then picks its own."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.server import ServerProtocol
    except ImportError:
        return None

    class JsonRejections(ServerProtocol):
        """websockets' server side whose refusals (a bad handshake; uvicorn's 403 and 500)
        carry an ErrorBody instead of text."""

        def reject(self, status: HTTPStatus | int, text: str) -> Any:
            response = super().reject(status, text)
            body = error_json(text.strip() or response.reason_phrase, int(status))
            for name, value in (("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))):
                del response.headers[name]
                response.headers[name] = value
            response.body = body
            return response

    class JsonErrorWebSocketProtocol(WebSocketsSansIOProtocol):
        """:class:`WebSocketsSansIOProtocol` whose refused handshakes are JSON."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # Same object, same state: only reject() differs, and uvicorn builds the
            # connection inside __init__ with arguments it does not keep.
            self.conn.__class__ = JsonRejections

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.http.response.body" and \
                    not message.get("more_body", False):
                # uvicorn 0.54 leaves this unset after a denial response, then logs "returned
                # without completing handshake" and writes a 500 after the app's answer.
                self.handshake_complete = True

    return JsonErrorWebSocketProtocol
