"""The C2SP tlog-tiles read API over plain HTTP, on a port of its own (`--tiles-port`).

`GET /checkpoint` is the signed note GetLatestCheckpoint returns; `GET /tile/<L>/<N>[.p/<W>]`
and `GET /tile/entries/<N>[.p/<W>]` are read from the stored tree by `ledger.tiles.LogTiles`,
only as far as that checkpoint reaches. Everything served is signed or hashed into a signed
checkpoint, so a client needs no TLS to trust it (an operator may still put a TLS proxy or a
cache in front: tiles are immutable). Each request reads at most 256 rows; at most
`MAX_CONNECTIONS` are served at once and an idle connection is closed after `IDLE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import AF_INET6, socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from civitas.config import ConfigError
from ledger.errors import Unavailable
from ledger.tiles import LogTiles, TileNotFound, TilePathError, TileStorageError, parse_tile_path

if TYPE_CHECKING:
    from civitas.node import Node

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
IDLE_SECONDS = 10.0
CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
# As transparency-dev's Tessera: a tile never changes, the checkpoint is fetched fresh each time.
TILE_CACHE = "max-age=604800, immutable"
CHECKPOINT_CACHE = "no-cache"


class TilesServer(ThreadingHTTPServer):
    """A thread per connection, at most `MAX_CONNECTIONS` of them: the rest get 503 at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], tiles: LogTiles) -> None:
        self.tiles = tiles
        if ":" in address[0]:
            self.address_family = AF_INET6
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, TilesHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _refuse_busy(request: socket) -> None:
    with contextlib.suppress(OSError):  # the client left already
        request.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )


class TilesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client fetches many tiles in a row
    server_version = "civitas-tiles"  # not the Python version
    sys_version = ""
    timeout = IDLE_SECONDS
    # Headers and body go out in two writes: with Nagle's algorithm the body of a small tile
    # waited for the client's delayed ACK, 40 ms a tile (benchmarks/tiles.py).
    disable_nagle_algorithm = True
    server: TilesServer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_POST(self) -> None:
        self._not_allowed()

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def _not_allowed(self) -> None:
        # Its body is never read, so the connection cannot carry another request.
        self.close_connection = True
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read only: GET or HEAD\n", True, allow=True)

    def _answer(self, send_body: bool) -> None:
        path = urlsplit(self.path).path.lstrip("/")
        tiles = self.server.tiles
        try:
            if path == "checkpoint":
                note = tiles.checkpoint().note.encode()
                self._send(HTTPStatus.OK, note, send_body, CHECKPOINT_TYPE, CHECKPOINT_CACHE)
                return
            tile = parse_tile_path(path)
            body = tiles.read(tile)
        except Unavailable:  # no checkpoint signed yet
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no checkpoint yet\n", send_body)
        except TilePathError as error:
            status = HTTPStatus.BAD_REQUEST if path.startswith("tile/") else HTTPStatus.NOT_FOUND
            self._send(status, f"{error}\n".encode(), send_body)
        except TileNotFound as error:
            self._send(HTTPStatus.NOT_FOUND, f"{error}\n".encode(), send_body)
        except TileStorageError:
            log.exception("tiles: cannot serve %s", path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"cannot read this tile\n", send_body)
        except Exception:  # the database is down: say so, keep serving
            log.warning("tiles: could not read the ledger database", exc_info=True)
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"ledger unavailable\n", send_body)
        else:
            gzipped = tile.is_bundle and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
            self._send(
                HTTPStatus.OK,
                gzip.compress(body, mtime=0) if gzipped else body,
                send_body,
                TILE_TYPE,
                TILE_CACHE,
                encoding="gzip" if gzipped else None,
                vary=tile.is_bundle,
            )

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        send_body: bool,
        content_type: str = "text/plain; charset=utf-8",
        cache: str | None = None,
        *,
        encoding: str | None = None,
        vary: bool = False,
        allow: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache or "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")  # an error echoes the path
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if vary:
            self.send_header("Vary", "Accept-Encoding")
        if allow:
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Connection", "close")
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            self.send_header("Retry-After", "1")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("tiles: %s " + format, self.address_string(), *args)


def _accepts_gzip(header: str) -> bool:
    """RFC 9110 section 12.5.3: gzip named (or `*`) without q=0."""
    for item in header.split(","):
        name, _, parameters = item.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = parameters.strip().lower().replace(" ", "")
            return quality not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class TilesEndpoint:
    """The tiles server on its own thread; `port` is the one bound (useful with port 0)."""

    def __init__(self, tiles: LogTiles, host: str, port: int) -> None:
        try:
            self._server = TilesServer((host, port), tiles)
        except OSError as error:
            raise ConfigError(f"cannot serve tiles on {host}:{port}: {error.strerror}") from None
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tiles-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_tiles(node: Node) -> TilesEndpoint | None:
    """Start the tiles read API when the configuration asks for it (`--tiles-port`)."""
    config = node.config
    if config.tiles_port is None:
        return None
    endpoint = TilesEndpoint(node.log_tiles, config.tiles_host, config.tiles_port)
    host = f"[{config.tiles_host}]" if ":" in config.tiles_host else config.tiles_host
    log.info("civitas tiles on http://%s:%d/checkpoint", host, endpoint.port)
    return endpoint
