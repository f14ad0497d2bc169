#!/usr/bin/env python3
"""Writes the seed corpus of http_connection_fuzzer (format: see http_connection_fuzzer.cc)."""
import gzip
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def data(direction, payload, lost=0, hold=False):
    out = bytearray()
    while True:
        piece, payload = payload[:1023], payload[1023:]
        op = direction | ((len(piece) >> 8) << 2)
        if lost and not payload:
            op |= 0x10
        if hold:
            op |= 0x20
        out += bytes([op, len(piece) & 0xFF])
        if op & 0x10:
            out.append(lost)
        out += piece
        if not payload:
            return bytes(out)


def hole(direction, n):
    return bytes([2 | (direction << 2), n])


CLOSE = bytes([3])
E, I = 0, 1


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n" + extra + b"\r\n"


def ok(body, extra=b""):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body


gz = gzip.compress(b"hello hello hello hello")
SEEDS = {
    "keepalive": bytes([1]) + data(E, get(b"/a")) + data(I, ok(b"hello")) + data(E, get(b"/b"))
    + data(I, ok(b"world")) + CLOSE,
    "pipelined": bytes([1]) + data(E, get(b"/1") + get(b"/2")) + data(I, ok(b"1") + ok(b"2")),
    "chunked_trailers": bytes([1]) + data(E, b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n")
    + data(I, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n"),
    "head": bytes([1]) + data(E, b"HEAD / HTTP/1.1\r\n\r\n") + data(I, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
    "continue": bytes([1]) + data(E, b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    + data(I, b"HTTP/1.1 100 Continue\r\n\r\n") + data(E, b"hi") + data(I, ok(b"")),
    "close_delimited": bytes([1]) + data(E, b"GET / HTTP/1.0\r\n\r\n") + data(I, b"HTTP/1.0 200 OK\r\n\r\nbody until close") + CLOSE,
    "upgrade": bytes([1]) + data(E, get(b"/ws", b"Upgrade: websocket\r\nConnection: Upgrade\r\n"))
    + data(I, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"),
    "connect": bytes([1]) + data(E, b"CONNECT h:443 HTTP/1.1\r\n\r\n") + data(I, b"HTTP/1.1 200 OK\r\n\r\n\x16\x03"),
    "server_gzip": bytes([2]) + data(I, get(b"/gz")) + data(E, ok(gz, b"Content-Encoding: gzip\r\n")),
    "unknown_role": bytes([0]) + data(I, b"xx tail of something\r\n" + get(b"/mid")) + data(E, ok(b"m")),
    "gaps": bytes([1]) + data(E, get(b"/g")) + data(I, b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\nab", lost=200)
    + data(I, b"c" * 98) + hole(E, 3) + data(E, get(b"/h")) + data(I, ok(b"h")),
    "reorder": bytes([1]) + data(E, get(b"/r"), hold=True) + data(I, ok(b"r")),
    "tiny_limits": bytes([5]) + data(E, get(b"/t", b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n")) + data(I, ok(b"x" * 100)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, blob in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
    print(f"wrote {len(SEEDS)} seeds to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
