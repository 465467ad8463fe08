"""A minimal police client: mutual TLS with an agency certificate, officer and purpose.

Usage: python -m exchange_service.client_example HOST:PORT PKI_DIR AGENCY_ID [NAME]
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc


def agency_channel(target: str, pki: Path, agency_id: str) -> grpc.Channel:
    """A channel that presents the agency's certificate and trusts only Pantau's CA."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.crt").read_bytes(),
        private_key=(pki / f"{agency_id}.key").read_bytes(),
        certificate_chain=(pki / f"{agency_id}.crt").read_bytes(),
    )
    host, _, port = target.rpartition(":")
    # The development server certificate names localhost and 127.0.0.1.
    return grpc.secure_channel(f"{host or 'localhost'}:{port}", credentials)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    target, pki, agency_id = argv[0], Path(argv[1]), argv[2]
    name = argv[3] if len(argv) > 3 else "nguyen"
    metadata = (("x-pantau-officer", "Bripka Andi"), ("x-pantau-purpose", "LP/123/XI/2026"))
    with agency_channel(target, pki, agency_id) as channel:
        try:
            found = q_grpc.QueryServiceStub(channel).SearchPersons(
                q.SearchPersonsRequest(name=name, page_size=5), metadata=metadata, timeout=10
            )
        except grpc.RpcError as error:
            # E.g. PERMISSION_DENIED for local government, who may not search by name.
            print(f"{agency_id}: {error.code().name}: {error.details()}", file=sys.stderr)  # noqa: T201
            return 1
    for match in found.results:
        person = match.person
        print(  # noqa: T201
            f"{match.score:.2f}  {person.family_name}, {person.given_names}"
            f"  {person.nationality}  {person.id}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
