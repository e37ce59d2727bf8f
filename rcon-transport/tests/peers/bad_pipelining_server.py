"""An RCON server that mishandles pipelined commands (standard library only).

Usage: python3 bad_pipelining_server.py MODE PASSWORD
Prints "READY <port>" once it listens on 127.0.0.1. Authentication works normally; then, for
commands sent back to back:
  one-at-a-time  handles the first packet of each recv() and silently drops the rest, as a
                 naive server that assumes one request per read does
  same-id        answers every command of a burst with the request id of the first one
  shifted-id     answers each command with its request id + 1000
Written from the Source RCON spec, independent of the Rust client under test.
"""
import socket
import struct
import sys
import time


def packet(req_id, kind, body):
    payload = struct.pack("<ii", req_id, kind) + body + b"\x00\x00"
    return struct.pack("<i", len(payload)) + payload


def parse(buf):
    packets = []
    while len(buf) >= 4:
        (length,) = struct.unpack_from("<i", buf)
        if len(buf) < 4 + length:
            break
        req_id, kind = struct.unpack_from("<ii", buf, 4)
        packets.append((req_id, kind, bytes(buf[12 : 4 + length - 2])))
        buf = buf[4 + length :]
    return packets, buf


def drain(conn):
    """Everything readable right now (None if the peer closed)."""
    conn.setblocking(False)
    data = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return None if not data else data
            data += chunk
    except BlockingIOError:
        pass
    finally:
        conn.setblocking(True)
    return data


def serve(conn, mode, password):
    buf = b""
    authed = False
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        packets, buf = parse(buf)
        if not packets:
            continue
        if not authed:
            req_id, kind, body = packets.pop(0)
            if kind != 3 or body != password.encode():
                conn.sendall(packet(-1, 2, b""))
                return
            conn.sendall(packet(req_id, 2, b""))
            authed = True
        if not any(p[1] == 2 for p in packets):
            continue
        # "Busy executing" for a moment; commands pipelined meanwhile pile up in the socket.
        time.sleep(0.2)
        more = drain(conn)
        if more is None:
            return
        extra, buf = parse(buf + more)
        commands = [p for p in packets + extra if p[1] == 2]
        if mode == "one-at-a-time":
            req_id, _, body = commands[0]
            conn.sendall(packet(req_id, 0, b"reply to " + body))
            buf = b""  # everything that arrived while busy is lost
        elif mode == "same-id":
            first = commands[0][0]
            for _, _, body in commands:
                conn.sendall(packet(first, 0, b"reply to " + body))
        elif mode == "shifted-id":
            for req_id, _, body in commands:
                conn.sendall(packet(req_id + 1000, 0, b"reply to " + body))


def main():
    mode, password = sys.argv[1], sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    print("READY", listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                serve(conn, mode, password)
            except OSError:
                pass


if __name__ == "__main__":
    main()
