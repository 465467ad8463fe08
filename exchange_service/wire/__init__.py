"""The protobuf messages as Pantau reads and writes them, with no transport.

``convert`` maps requests to commands and domain values to responses (the one
mapping between protobuf and the domain); ``feed`` encodes a feed entry's
payload, the ``AlertEvent`` bytes Pantau signs. Imports protobuf and the
generated messages, never gRPC, so the scheduler and the delivery workers can
encode what they sign.
"""
