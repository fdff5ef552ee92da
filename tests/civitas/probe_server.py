"""The interceptor in process, in front of made-up handlers: codes, limits and metrics no real
servicer can be made to produce on demand."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc

from civitas.api.interceptor import CallerInterceptor
from civitas.server_loop import ServerLoop

SERVICE = "test.Probe"


def probe_roles(handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]) -> dict[str, frozenset[str]]:
    """Each handler's full method name, open to an admin."""
    return {f"{SERVICE}/{name}": frozenset({"admin"}) for name in handlers}


@contextmanager
def probe_channel(
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]],
    interceptor: CallerInterceptor,
    workers: futures.ThreadPoolExecutor,
) -> Iterator[grpc.Channel]:
    """`handlers` served as test.Probe/NAME behind `interceptor`, which was given `workers`;
    a channel to them."""

    def build() -> grpc.aio.Server:
        server = grpc.aio.server(migration_thread_pool=workers, interceptors=[interceptor])
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        return server

    server = ServerLoop(build, workers=workers)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(None)
