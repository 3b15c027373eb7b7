"""Run inside a network namespace: ``serve`` a TCP listener and a UDP echo, or ``probe`` them.

``probe HOST PORT N`` prints JSON ``{"tcp": bool, "udp": replies}`` after one TCP
connect and N UDP datagrams (each waited for 0.3 s).
"""

from __future__ import annotations

import json
import socket
import sys
import threading


def serve(host: str, port: int) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port))
    tcp.listen(64)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))

    def accept() -> None:
        while True:
            conn, _ = tcp.accept()
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    print("ready", flush=True)
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data, peer)


def probe(host: str, port: int, n: int) -> None:
    ok = True
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        ok = False
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    got = 0
    for i in range(n):
        try:  # a packet dropped on output fails the send itself (EPERM)
            s.sendto(str(i).encode(), (host, port))
            while True:
                data, _ = s.recvfrom(2048)
                if data == str(i).encode():
                    got += 1
                    break
        except OSError:
            pass
    print(json.dumps({"tcp": ok, "udp": got}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
