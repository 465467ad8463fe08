"""A bare gRPC echo server: the ceiling any Python gRPC service reaches on this machine.

It is built like the Pantau server (``grpc.server`` over a thread pool of the
same number of workers) but its one unary method, ``/bench.Echo/Echo``,
returns the request bytes unchanged with identity serializers: no
deserialisation, no interceptors, no database. It speaks the same transport
as the Pantau server it is compared with (mutual TLS with the same server
certificate, or plaintext). Measured with the same client and the same
request bytes as GetPerson, it gives the throughput that a real method's
overhead above gRPC is compared with.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc

ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"


def _echo(request: bytes, _context: grpc.ServicerContext) -> bytes:
    return request


@dataclass(frozen=True)
class ServerTls:
    """PEM contents for a mutual-TLS server: its key and certificate, and the clients' CA."""

    private_key: bytes
    certificate_chain: bytes
    client_ca: bytes

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials that, like Pantau's, require a client certificate signed by the CA."""
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=True,
        )


def start_echo_server(
    workers: int, tls: ServerTls | None = None, host: str = "127.0.0.1"
) -> tuple[grpc.Server, int]:
    """Starts the echo server on an ephemeral port of ``host``; returns it and the port.

    Guarantees: ``workers`` handler threads, identity (de)serialisation,
    mutual TLS if ``tls`` is given (else plaintext), and the server is
    started when this returns.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-echo")
    )
    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                _echo, request_deserializer=None, response_serializer=None
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    address = f"{host}:0"
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, tls.credentials())
    if port == 0:
        raise RuntimeError(f"the echo server cannot listen on {host}")
    server.start()
    return server, port
