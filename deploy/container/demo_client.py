#!/usr/bin/env python3
"""Sends the seed's demo requests to the demo app (loopback only), a bounded number of times.

Usage: demo_client.py [--port 8080] [--rounds 1]
"""

import argparse
import json
import urllib.request


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    base = "http://127.0.0.1:%d" % args.port
    for _ in range(min(args.rounds, 100)):
        with urllib.request.urlopen(base + "/users", timeout=5) as r:
            r.read()
        body = json.dumps({"name": "New User"}).encode()
        request = urllib.request.Request(base + "/user", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as r:
            r.read()
    print("demo-client: %d round(s) sent to %s" % (args.rounds, base))


if __name__ == "__main__":
    main()
