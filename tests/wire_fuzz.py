"""Seeded random and mutated protobuf wire bytes: what a broken or hostile client may send.

Knows the wire format (varints, tags, the wire types) and no schema, so the
same mutations reach every message type: bits flipped, bytes deleted,
inserted or duplicated, varints and lengths changed, unknown fields added,
fields sent with the wrong or an invalid wire type, groups left open, nested
messages mutated inside a correct length, strings made invalid UTF-8. Every
choice comes from the ``random.Random`` passed in, so a seed replays a run.
Pure: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = range(6)
MAX_FIELD_NUMBER = (1 << 29) - 1
MAX_VARINT = (1 << 64) - 1
# Lengths of the random byte strings: empty, tiny, around the varint and
# frame boundaries, and a few KiB.
RANDOM_LENGTHS = (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 16, 31, 64, 127, 128, 255, 1000, 2048, 4096)
INTERESTING_VARINTS = (
    0,
    1,
    127,
    128,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    (1 << 63) - 1,
    1 << 63,
    MAX_VARINT,
)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)


def encode_varint(value: int) -> bytes:
    """The base-128 varint of a non-negative value (any size: longer than 10 bytes is invalid)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """The varint at ``pos`` and the position after it; None if the data ends inside it."""
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


@dataclass(frozen=True)
class Field:
    """One field as it appears on the wire: its number, wire type and value bytes.

    ``value`` is the varint's bytes, the 4 or 8 fixed bytes, or the payload of
    a length-delimited field (without its length).
    """

    number: int
    wire_type: int
    value: bytes

    def encode(self) -> bytes:
        tag = encode_varint((self.number << 3) | self.wire_type)
        if self.wire_type == LENGTH_DELIMITED:
            return tag + encode_varint(len(self.value)) + self.value
        return tag + self.value


def split_fields(data: bytes) -> list[Field] | None:
    """The top-level fields of well-formed wire bytes; None if they are not well formed."""
    fields: list[Field] = []
    pos = 0
    while pos < len(data):
        tag = decode_varint(data, pos)
        if tag is None:
            return None
        key, pos = tag
        number, wire_type = key >> 3, key & 7
        if number == 0:
            return None
        if wire_type == VARINT:
            value = decode_varint(data, pos)
            if value is None:
                return None
            end = value[1]
        elif wire_type == FIXED64:
            end = pos + 8
        elif wire_type == FIXED32:
            end = pos + 4
        elif wire_type == LENGTH_DELIMITED:
            length = decode_varint(data, pos)
            if length is None:
                return None
            size, pos = length
            end = pos + size
        else:  # groups are deprecated and not in Pantau's messages
            return None
        if end > len(data):
            return None
        fields.append(Field(number, wire_type, data[pos:end]))
        pos = end
    return fields


def join_fields(fields: list[Field]) -> bytes:
    return b"".join(field.encode() for field in fields)


def random_bytes(rng: random.Random) -> bytes:
    """A random byte string of one of ``RANDOM_LENGTHS``."""
    return rng.randbytes(rng.choice(RANDOM_LENGTHS))


# --- mutations of bytes --------------------------------------------------------------

Mutation = Callable[[random.Random, bytes], bytes]


def _position(rng: random.Random, data: bytes, *, inclusive: bool = False) -> int:
    return rng.randrange(len(data) + (1 if inclusive else 0)) if data or inclusive else 0


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes([1 << rng.randrange(8)])
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_interesting_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes([rng.choice(INTERESTING_BYTES)])
    out = bytearray(data)
    out[rng.randrange(len(out))] = rng.choice(INTERESTING_BYTES)
    return bytes(out)


def delete_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, min(8, len(data) - start)) :]


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data, inclusive=True)
    return data[:at] + rng.randbytes(rng.randint(1, 8)) + data[at:]


def duplicate_range(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    end = rng.randint(start + 1, len(data))
    return data[:end] + data[start:end] + data[end:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: _position(rng, data)]


# --- mutations of fields -------------------------------------------------------------


def _fields_or_none(data: bytes) -> list[Field] | None:
    fields = split_fields(data)
    return fields if fields else None


def change_varint(rng: random.Random, data: bytes) -> bytes:
    """A varint field gets an extreme value, an overlong encoding, or more than 10 bytes."""
    fields = _fields_or_none(data)
    varints = [i for i, f in enumerate(fields or []) if f.wire_type == VARINT]
    if fields is None or not varints:
        return flip_bits(rng, data)
    i = rng.choice(varints)
    kind = rng.randrange(3)
    if kind == 0:
        value = encode_varint(rng.choice(INTERESTING_VARINTS))
    elif kind == 1:  # overlong: the same value padded with continuation bytes
        value = bytes(b | 0x80 for b in fields[i].value) + b"\x80" * rng.randint(0, 3) + b"\x00"
    else:  # 11 bytes or more: no varint is that long
        value = b"\xff" * rng.randint(10, 12) + b"\x01"
    fields[i] = Field(fields[i].number, VARINT, value)
    return join_fields(fields)


def change_length(rng: random.Random, data: bytes) -> bytes:
    """A length-delimited field is framed with a wrong length."""
    fields = _fields_or_none(data)
    framed = [i for i, f in enumerate(fields or []) if f.wire_type == LENGTH_DELIMITED]
    if fields is None or not framed:
        return truncate(rng, data)
    i = rng.choice(framed)
    field = fields[i]
    size = len(field.value)
    wrong = rng.choice(
        [size + 1, max(0, size - 1), 0, size + 100, (1 << 31) - 1, 1 << 32, MAX_VARINT]
    )
    encoded = (
        encode_varint((field.number << 3) | LENGTH_DELIMITED) + encode_varint(wrong) + field.value
    )
    return join_fields(fields[:i]) + encoded + join_fields(fields[i + 1 :])


def _random_field(rng: random.Random, number: int) -> Field:
    wire_type = rng.choice((VARINT, FIXED64, LENGTH_DELIMITED, FIXED32))
    if wire_type == VARINT:
        return Field(number, wire_type, encode_varint(rng.choice(INTERESTING_VARINTS)))
    if wire_type == FIXED64:
        return Field(number, wire_type, rng.randbytes(8))
    if wire_type == FIXED32:
        return Field(number, wire_type, rng.randbytes(4))
    return Field(number, wire_type, rng.randbytes(rng.choice((0, 1, 5, 40))))


def add_unknown_field(rng: random.Random, data: bytes) -> bytes:
    """A well-formed field with a number the message does not have (kept as unknown)."""
    number = rng.choice((30, 99, 1000, 19_000, 65_535, MAX_FIELD_NUMBER))
    fields = split_fields(data) or []
    at = rng.randint(0, len(fields))
    return join_fields([*fields[:at], _random_field(rng, number), *fields[at:]])


def wrong_wire_type(rng: random.Random, data: bytes) -> bytes:
    """A known field's value sent under another valid wire type (the bytes kept as they were)."""
    fields = _fields_or_none(data)
    if fields is None:
        return add_unknown_field(rng, data)
    i = rng.randrange(len(fields))
    field = fields[i]
    others = [t for t in (VARINT, FIXED64, LENGTH_DELIMITED, FIXED32) if t != field.wire_type]
    wire_type = rng.choice(others)
    if wire_type == LENGTH_DELIMITED:
        value = field.value
    elif wire_type == VARINT:
        value = field.value if field.wire_type == VARINT else encode_varint(len(field.value))
    else:
        width = 8 if wire_type == FIXED64 else 4
        value = (field.value + bytes(width))[:width]
    fields[i] = Field(field.number, wire_type, value)
    return join_fields(fields)


def invalid_tag(rng: random.Random, data: bytes) -> bytes:
    """A tag no parser accepts: field number 0, wire type 6 or 7, or an unmatched group."""
    number = rng.choice((0, 1, 2, 3))
    wire_type = rng.choice((6, 7, START_GROUP, END_GROUP))
    tag = encode_varint((number << 3) | wire_type) + rng.randbytes(rng.randint(0, 4))
    at = _position(rng, data, inclusive=True)
    fields = split_fields(data)
    if fields:  # between two fields, so that the tag itself is what is wrong
        cut = rng.randint(0, len(fields))
        return join_fields(fields[:cut]) + tag + join_fields(fields[cut:])
    return data[:at] + tag + data[at:]


def duplicate_field(rng: random.Random, data: bytes) -> bytes:
    """A field sent again, up to a few hundred times (last one wins, or messages merge)."""
    fields = _fields_or_none(data)
    if fields is None:
        return duplicate_range(rng, data)
    field = rng.choice(fields)
    copies = rng.choice((1, 2, 10, 200))
    at = rng.randint(0, len(fields))
    return join_fields([*fields[:at], *([field] * copies), *fields[at:]])


def reorder_fields(rng: random.Random, data: bytes) -> bytes:
    """The same fields in another order: still a valid encoding of the same message."""
    fields = _fields_or_none(data)
    if fields is None:
        return insert_bytes(rng, data)
    rng.shuffle(fields)
    return join_fields(fields)


def invalid_utf8(rng: random.Random, data: bytes) -> bytes:
    """Bytes that are not UTF-8 inside a length-delimited field (a string, if it is one)."""
    fields = _fields_or_none(data)
    framed = [i for i, f in enumerate(fields or []) if f.wire_type == LENGTH_DELIMITED]
    if fields is None or not framed:
        return set_interesting_byte(rng, data)
    i = rng.choice(framed)
    value = fields[i].value
    at = rng.randint(0, len(value))
    bad = rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"))
    fields[i] = Field(fields[i].number, LENGTH_DELIMITED, value[:at] + bad + value[at:])
    return join_fields(fields)


def mutate_nested(rng: random.Random, data: bytes) -> bytes:
    """A length-delimited field's payload mutated, its length kept right: reaches nested parsers."""
    fields = _fields_or_none(data)
    framed = [i for i, f in enumerate(fields or []) if f.wire_type == LENGTH_DELIMITED]
    if fields is None or not framed:
        return flip_bits(rng, data)
    i = rng.choice(framed)
    fields[i] = Field(fields[i].number, LENGTH_DELIMITED, mutate_once(rng, fields[i].value))
    return join_fields(fields)


MUTATIONS: tuple[Mutation, ...] = (
    flip_bits,
    set_interesting_byte,
    delete_bytes,
    insert_bytes,
    duplicate_range,
    truncate,
    change_varint,
    change_length,
    add_unknown_field,
    wrong_wire_type,
    invalid_tag,
    duplicate_field,
    reorder_fields,
    invalid_utf8,
    mutate_nested,
)


def mutate_once(rng: random.Random, data: bytes) -> bytes:
    return rng.choice(MUTATIONS)(rng, data)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three mutations of the bytes, one after the other."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = mutate_once(rng, data)
    return data
