"""Independent client check: PyPI `factorio-rcon-py` against the emulator.

Usage: python3 python_client.py PORT PASSWORD
"""
import sys

import factorio_rcon


def main() -> int:
    port, password = int(sys.argv[1]), sys.argv[2]
    client = factorio_rcon.RCONClient("127.0.0.1", port, password, timeout=10)
    reply = client.send_command('/sc rcon.print("hello from " .. "python")')
    # The library strips the trailing newline that rcon.print adds.
    if reply.rstrip("\n") != "hello from python" or reply.count("\n") > 1:
        print(f"unexpected reply {reply!r}", file=sys.stderr)
        return 1
    client.close()
    print("OK reply")
    try:
        factorio_rcon.RCONClient("127.0.0.1", port, password + "-wrong", timeout=10)
    except factorio_rcon.InvalidPassword:
        print("OK refused")
        return 0
    print("a wrong password was accepted", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
