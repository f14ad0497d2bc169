#!/usr/bin/env python3
"""Writes the seed corpus of event_decoder_fuzzer (format: see event_decoder_fuzzer.cc): ring-buffer
records as the probes write them (bpf/events.h), one connection's open, data both ways, a
shutdown, a loss and the close."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
DATA, OPEN, CLOSE, LOSS, SHUTDOWN = 1, 2, 3, 4, 5
CONN = 7


def header(kind, ts):
    return struct.pack("<B3xIQIiQ", kind, 100, CONN, 4213, 5, ts)  # 32 bytes


def comm(name=b"nginx"):
    return name.ljust(16, b"\0")


def data(direction, position, payload, length=None, ts=10):
    length = len(payload) if length is None else length
    rec = header(DATA, ts) + struct.pack("<QQIBBBx", position, length, len(payload), direction,
                                         0, 1) + comm() + payload
    return rec + b"\0" * (-len(rec) % 8)


def open_event():
    return header(OPEN, 1) + struct.pack("<BBHHH", 2, 2, 8080, 51234, 0) + \
        bytes([127, 0, 0, 1]) + b"\0" * 12 + bytes([127, 0, 0, 1]) + b"\0" * 12 + comm() + \
        struct.pack("<Q", 1)


def close_event(out_bytes, in_bytes):
    return header(CLOSE, 99) + struct.pack("<QQ", out_bytes, in_bytes)


def shutdown_event(direction, out_bytes, in_bytes):
    return header(SHUTDOWN, 98) + struct.pack("<QQB7x", out_bytes, in_bytes, direction)


def loss_event(direction, n):
    return header(LOSS, 50) + struct.pack("<QBB6x", n, direction, 1)


def records(*recs):
    return b"".join(struct.pack("<H", len(r)) + r for r in recs)


def main():
    os.makedirs(OUT, exist_ok=True)
    req = b"GET /users HTTP/1.1\r\nHost: x\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    seeds = {
        "exchange": records(open_event(), data(1, 0, req), data(0, 0, resp),
                            close_event(len(resp), len(req))),
        "truncated_body": records(open_event(), data(1, 0, req),
                                  data(0, 0, resp[:-5], length=len(resp) + 100000),
                                  shutdown_event(0, len(resp) + 100000, len(req)),
                                  close_event(len(resp) + 100000, len(req))),
        "loss": records(open_event(), data(1, 0, req), loss_event(0, 4096),
                        data(0, 4096, resp), close_event(4096 + len(resp), len(req))),
    }
    for name, blob in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
