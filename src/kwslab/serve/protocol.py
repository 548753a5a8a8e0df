"""uvicorn's HTTP/1.1 protocol with a JSON 400 for requests it cannot parse.

A request line or header that h11 rejects (``GARBAGE``, a header without a colon, headers over
h11's size limit) never reaches the app: uvicorn answers it itself, in plain text. The service
promises JSON for every error, so this subclass writes the same ``ErrorBody`` the app's error
handlers write. ``kwslab serve`` passes it to uvicorn as ``http=``.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from kwslab.serve.schemas import ErrorBody

MALFORMED = "malformed HTTP request: the request line or a header could not be parsed"


class JsonErrorH11Protocol(H11Protocol):
    """:class:`H11Protocol` whose parse-error 400 is ``{"error": ..., "status": 400}``."""

    def send_400_response(self, msg: str) -> None:
        """Write the 400 as JSON and close, as uvicorn does (``msg`` is uvicorn's text)."""
        body = ErrorBody(error=MALFORMED, status=400).model_dump_json(exclude_none=True).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=STATUS_PHRASES[400]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
