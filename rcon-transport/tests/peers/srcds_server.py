"""A SRCDS-style Source RCON server built on PyPI `rconx`, for the rcon-transport tests.

Usage: python3 srcds_server.py PASSWORD
Prints "READY <port>" once it listens on 127.0.0.1. Commands:
  echo TEXT     -> TEXT
  long N        -> N bytes (rconx splits replies over 4096 bytes into several packets)
  slow MS TEXT  -> TEXT after MS milliseconds
rconx answers requests of one connection in order and mirrors the empty probe packet, which is
what the client's SRCDS mode relies on.
"""
import socket
import sys
import time

import rconx


def handle(content, info):
    text = content.text
    word, _, rest = text.partition(" ")
    if word == "echo":
        return rest
    if word == "long":
        n = int(rest)
        return "".join(chr(ord("a") + (i * 7 + i // 26) % 26) for i in range(n))
    if word == "slow":
        ms, _, reply = rest.partition(" ")
        time.sleep(int(ms) / 1000)
        return reply
    return "unknown command: " + text


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    password = sys.argv[1]
    port = free_port()
    server = rconx.RconServer("127.0.0.1", port, authentication=password, command_handler=handle)
    server.serve(on_started=lambda: print("READY", port, flush=True))


if __name__ == "__main__":
    main()
