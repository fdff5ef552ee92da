"""The witness over HTTP: ``POST /add-checkpoint`` (C2SP tlog-witness), on the standard library's
threading server. Keep-alive connections (HTTP/1.1) as the spec asks of clients."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from witness.witness import Answer, Witness

ADD_CHECKPOINT = "/add-checkpoint"
# 63 proof lines and a checkpoint with 100 signatures fit in far less.
MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WitnessServer

    def do_POST(self) -> None:
        if self.path != ADD_CHECKPOINT:
            self._answer(Answer(404, "not found\n"))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(Answer(411, "a Content-Length is required\n"), close=True)
            return
        if not 0 <= length <= MAX_BODY:
            self._answer(Answer(413, f"the body is limited to {MAX_BODY} bytes\n"), close=True)
            return
        self._answer(self.server.witness.add_checkpoint(self.rfile.read(length)))

    def do_GET(self) -> None:
        self._answer(Answer(405, "add-checkpoint takes a POST\n"))

    def _answer(self, answer: Answer, close: bool = False) -> None:
        body = answer.body.encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the witness logs what it refuses; access lines would only add noise


class WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)
