#!/usr/bin/python3
"""Writes the HTTP/2 fuzz target's seed corpus (fuzz/corpus) from the real conversations in
testdata/*.h2: each conversation's beginning as ops (see http2_connection_fuzzer.cc), whole, in
small pieces, with a hole, with a held (reordered) chunk, with tiny limits, and joined late.

  /usr/bin/python3 agent/protocols/http2/fuzz/make_corpus.py
"""

import glob
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEED = 6000


def load(path):
    chunks = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i + 5 <= len(data):
        tag = data[i:i + 1]
        (n,) = struct.unpack(">I", data[i + 1:i + 5])
        chunks.append((0 if tag == b"C" else 1, data[i + 5:i + 5 + n]))
        i += 5 + n
    return chunks


def data_op(direction, payload, lost=0, hold=False):
    assert len(payload) < 1024
    op = direction | ((len(payload) >> 8) << 2) | (0x10 if lost else 0) | (0x20 if hold else 0)
    out = bytes([op, len(payload) & 0xff])
    if lost:
        out += bytes([lost])
    return out + payload


def program(chunks, config=1, piece=1000, hole_at=None, hold_at=None, skip=0):
    out = bytes([config])
    n = 0
    for index, (direction, data) in enumerate(chunks[skip:]):
        for k in range(0, len(data), piece):
            part = data[k:k + piece]
            if hole_at is not None and n == hole_at:
                out += bytes([2 | (direction << 2), 7])
            out += data_op(direction, part, hold=(hold_at == n))
            n += 1
            if len(out) > MAX_SEED:
                return out + bytes([3])
    return out + bytes([3])


def main():
    corpus = os.path.join(HERE, "corpus")
    os.makedirs(corpus, exist_ok=True)
    seeds = []
    for path in sorted(glob.glob(os.path.join(HERE, "..", "testdata", "*.h2"))):
        chunks = load(path)
        seeds += [
            program(chunks),
            program(chunks, piece=37),
            program(chunks, config=0, piece=200, hole_at=3),
            program(chunks, config=2, piece=300, hold_at=2),
            program(chunks, config=5, piece=100),
            program(chunks, piece=500, skip=2),
        ]
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(seed)
    print(f"{len(seeds)} seeds in {corpus}")


if __name__ == "__main__":
    main()
