#!/usr/bin/env python3
"""An independent implementation of invsync frames (docs/PROTOCOL.md), written from the spec.

Second implementations of every codec piece: Python's zlib and base64 modules, and PyPI `lz4`
(bindings to the reference C library). Used by tests/tests/python_peer.rs to cross-check the Rust
codec in both directions.

    frames_peer.py decode            frame lines on stdin -> JSON {id: payload_hex} on stdout
    frames_peer.py encode METHOD MAX_FRAME ID
                                     payload on stdin -> frame lines on stdout

Errors are reported as `error <ProtocolName> <detail>` on stdout with exit status 2.
"""

import base64
import binascii
import json
import re
import sys
import zlib

import lz4.block

HEADER = re.compile(
    rb"^IS1 ([0-9a-f]{8}) ([1-9][0-9]{0,9}) ([1-9][0-9]{0,9})/([1-9][0-9]{0,9}) "
    rb"(raw|lz4|zlib|solid) (0|[1-9][0-9]{0,15}) (0|[1-9][0-9]{0,15}) ([0-9a-f]{8}) "
)


class ProtocolError(Exception):
    def __init__(self, name, detail):
        super().__init__(f"{name} {detail}")
        self.name = name


def crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
D = rb"[A-Za-z0-9+/]"
# The short header (PROTOCOL.md 2.5): base-64 numbers, the method as one letter whose case says
# whether the message has one chunk; plen for all but raw.
SHORT = re.compile(
    rb"^~(" + D + rb"{6})(?:([rlzs])(" + D + rb"{6})|([RLZS])(" + D + rb"{6})(" + D + rb"{6})("
    + D + rb"{1,6})\.(" + D + rb"{1,6})\.(" + D + rb"{1,9})\.)"
)
PLEN = re.compile(D + rb"{1,9}\.")
METHOD = {b"r": "raw", b"l": "lz4", b"z": "zlib", b"s": "solid"}
# The largest payload of a `solid` message (PROTOCOL.md 2.3).
SOLID_MAX = 65536


def number(digits):
    value = 0
    for b in digits:
        value = value * 64 + DIGITS.index(b)
    return value


def parse_short(line):
    m = SHORT.match(line)
    if not m:
        raise ProtocolError("MalformedHeader", line[:60])
    fcrc, kind1, id1, kind, ident, mcrc, index, count, wlen = m.groups()
    pos = m.end()
    method = METHOD[(kind1 or kind).lower()]
    plen = None
    if method != "raw":
        p = PLEN.match(line, pos)
        if not p:
            raise ProtocolError("MalformedHeader", "plen")
        plen = number(line[pos:p.end() - 1])
        pos = p.end()
    data = line[pos:]
    if crc(line[7:]) != number(fcrc):
        raise ProtocolError("FrameChecksumMismatch", "short frame")
    if kind1:
        frame = {"id": number(id1), "index": 1, "count": 1, "wlen": len(data), "mcrc": crc(data)}
    else:
        frame = {"id": number(ident), "index": number(index), "count": number(count),
                 "wlen": number(wlen), "mcrc": number(mcrc)}
    frame.update(method=method, plen=frame["wlen"] if plen is None else plen, data=data)
    return frame


def parse(line):
    if any(b < 0x20 or b == 0x7F for b in line):
        raise ProtocolError("ForbiddenCharacter", "control byte")
    if line.startswith(b"~"):
        return parse_short(line)
    m = HEADER.match(line)
    if not m:
        raise ProtocolError("MalformedHeader", line[:60])
    fcrc, ident, index, count, method, plen, wlen, mcrc = m.groups()
    body = line[13:]
    if crc(body) != int(fcrc, 16):
        raise ProtocolError("FrameChecksumMismatch", f"message {int(ident)}")
    return {
        "id": int(ident),
        "index": int(index),
        "count": int(count),
        "method": method.decode(),
        "plen": int(plen),
        "wlen": int(wlen),
        "mcrc": int(mcrc, 16),
        "data": line[m.end():],
    }


def b64(text):
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise ProtocolError("BadBase64", str(e))


def decode_wire(method, chunks, plen):
    """`chunks`: the chunks' data in index order."""
    if method == "raw":
        return b"".join(chunks)
    if method == "zlib":
        # one zlib stream per chunk (PROTOCOL.md 2.3)
        payload = b"".join(zlib.decompress(b64(c)) for c in chunks)
    elif method == "solid":
        # one zlib stream of the whole payload, its base64 cut into chunks (PROTOCOL.md 2.3)
        if plen > SOLID_MAX:
            raise ProtocolError("MessageTooLarge", f"solid plen {plen} > {SOLID_MAX}")
        inflater = zlib.decompressobj()
        payload = inflater.decompress(b64(b"".join(chunks)), plen + 1)
        if len(payload) > plen or not inflater.eof:
            raise ProtocolError("DecompressFailed", "not one zlib stream of plen bytes")
    else:
        payload = lz4.block.decompress(b64(b"".join(chunks)), uncompressed_size=plen)
    if len(payload) != plen:
        raise ProtocolError("PayloadLengthMismatch", f"{len(payload)} != {plen}")
    return payload


def decode(lines):
    messages, done = {}, {}
    for line in lines:
        line = line.rstrip(b"\r\n")
        if line.startswith(b"\x0c"):
            line = line[1:]
        if not line:
            continue
        f = parse(line)
        m = messages.setdefault(f["id"], {"frame": f, "chunks": {}})
        m["chunks"][f["index"]] = f["data"]
        if len(m["chunks"]) == f["count"]:
            wire = b"".join(m["chunks"][i] for i in range(1, f["count"] + 1))
            if len(wire) != f["wlen"] or crc(wire) != f["mcrc"]:
                raise ProtocolError("MessageChecksumMismatch", f"message {f['id']}")
            chunks = [m["chunks"][i] for i in range(1, f["count"] + 1)]
            done[str(f["id"])] = decode_wire(f["method"], chunks, f["plen"]).hex()
            del messages[f["id"]]
    return done


def header_room(method, ident, plen, max_frame):
    """Data bytes a frame can hold, assuming generous widths for the count and wire length."""
    return max_frame - len(f"IS1 00000000 {ident} 99999/99999 {method} {plen} {plen * 4 + 9999} 00000000 ")


def encode_zlib(payload, max_frame, ident):
    """One zlib stream per chunk, each slice as large as a frame holds."""
    room = header_room("zlib", ident, len(payload), max_frame) // 4 * 4
    chunks, pos = [], 0
    while pos < len(payload) or not chunks:
        size = max(1, min(len(payload) - pos, 65536))
        while True:
            text = base64.b64encode(zlib.compress(payload[pos:pos + size], 9))
            if len(text) <= room or size <= 1:
                break
            size = max(1, size * room // len(text) * 9 // 10)
        if len(text) > room:
            raise ProtocolError("FrameTooSmall", str(max_frame))
        chunks.append(text)
        pos += size
    return frames_of("zlib", ident, len(payload), chunks)


def frames_of(method, ident, plen, chunks):
    wire = b"".join(chunks)
    wlen, mcrc, count = len(wire), crc(wire), len(chunks)
    frames = []
    for i, data in enumerate(chunks, start=1):
        body = f"{ident} {i}/{count} {method} {plen} {wlen} {mcrc:08x} ".encode() + data
        frames.append(b"IS1 %08x " % crc(body) + body)
    return frames


def encode(payload, method, max_frame, ident):
    if method == "zlib":
        return encode_zlib(payload, max_frame, ident)
    if method == "raw":
        wire = payload
        payload.decode("utf-8")  # must be text
        unit = 1
    elif method == "solid":
        if len(payload) > SOLID_MAX:
            raise ProtocolError("MessageTooLarge", f"solid payload {len(payload)} > {SOLID_MAX}")
        wire = base64.b64encode(zlib.compress(payload, 9))
        unit = 4
    else:
        wire = base64.b64encode(lz4.block.compress(payload, store_size=False))
        unit = 4
    plen, wlen, mcrc = len(payload), len(wire), crc(wire)
    count = 1
    while True:  # the header widens with the count's digits
        header_len = len(f"IS1 00000000 {ident} {count}/{count} {method} {plen} {wlen} {mcrc:08x} ")
        room = (max_frame - header_len) // unit * unit
        if room < 4:
            raise ProtocolError("FrameTooSmall", str(max_frame))
        need = max(1, -(-wlen // room))
        if need <= count:
            break
        count = need
    frames, start = [], 0
    for i in range(1, count + 1):
        end = wlen if i == count else min(start + room, wlen)
        if method == "raw":
            while end < wlen and (wire[end] & 0xC0) == 0x80:  # never split a character
                end -= 1
        body = f"{ident} {i}/{count} {method} {plen} {wlen} {mcrc:08x} ".encode() + wire[start:end]
        frames.append(b"IS1 %08x " % crc(body) + body)
        start = end
    if start != wlen:
        raise ProtocolError("FrameTooSmall", "characters too wide for the frame")
    return frames


def main():
    try:
        if sys.argv[1] == "decode":
            print(json.dumps(decode(sys.stdin.buffer.read().split(b"\n"))))
        else:
            method, max_frame, ident = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
            for f in encode(sys.stdin.buffer.read(), method, max_frame, ident):
                sys.stdout.buffer.write(f + b"\n")
    except ProtocolError as e:
        print(f"error {e}")
        sys.exit(2)


if __name__ == "__main__":
    main()
