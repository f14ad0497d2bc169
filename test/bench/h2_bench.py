#!/usr/bin/env python3
"""What tracing HTTP/2 costs: h2load against nghttpd (h2c, prior knowledge) with and without a
capture, interleaved per round.

Server: `nghttpd --no-tls` (one thread) serving a 48-byte JSON file. Load: `h2load -n N -c C
-m M` (N requests over C connections, M streams in flight per connection). Configurations:
`off` (agent running, no session), `jsonl` (a session on the port streaming every exchange to a
jsonl file through httptracectl: both ends are traced, so 2 exchanges per request).

Per configuration, the median over the rounds of: h2load's req/s and its ratio to `off`;
nghttpd's CPU per request; the agent's and httptracectl's CPU per recorded exchange; the
exchanges recorded on each side against the requests h2load completed (completeness), and the
losses reported.

  bazel build //agent:httptrace-agent //cli:httptracectl
  test/bench/h2_bench.py [--rounds 3] [--requests 200000] [--clients 4] [--streams 10]
Needs root, nghttp2-server and nghttp2-client. Traffic only to 127.0.0.1; every run bounded.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def log(msg):
    sys.stderr.write("h2_bench: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def wait_port(port, timeout=15):
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_until(up, timeout, "port %d" % port)


def h2load(port, args):
    cmd = ["h2load", "-n", str(args.requests), "-c", str(args.clients), "-m", str(args.streams),
           "http://127.0.0.1:%d/small.json" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    ok = int(re.search(r"status codes: (\d+) 2xx", out).group(1))
    return rps, done, ok


def run_one(config, port, server_pid, agent, workdir, args, round_no):
    ctl = None
    out = os.path.join(workdir, "r%d_%s.jsonl" % (round_no, config))
    if config == "jsonl":
        ctl = subprocess.Popen([args.ctl_bin, "--agent", "unix://" + agent["socket"], "start",
                                "--port", str(port), "--format", "jsonl", "-o", out],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        line = ctl.stderr.readline()
        if "started session" not in line:
            raise RuntimeError("ctl did not start: " + line)
    server0, agent0 = cpu_seconds(server_pid), cpu_seconds(agent["pid"])
    ctl0 = cpu_seconds(ctl.pid) if ctl else 0.0
    rps, done, ok = h2load(port, args)
    server1, agent1 = cpu_seconds(server_pid), cpu_seconds(agent["pid"])
    result = {"config": config, "rps": rps, "done": done, "ok": ok,
              "server_us_per_req": (server1 - server0) * 1e6 / max(done, 1),
              "agent_s": agent1 - agent0}
    if ctl:
        ctl1 = cpu_seconds(ctl.pid)  # before the stop: the drain after it is not the load's
        ctl.send_signal(signal.SIGINT)
        _, err = ctl.communicate(timeout=120)
        client = server = lost = 0
        with open(out) as f:
            for line in f:
                event = json.loads(line)
                if "request" in event:
                    if event["role"] == "server":
                        server += 1
                    else:
                        client += 1
                elif "loss" in event:
                    lost += event["loss"]["exchanges"]
        recorded = client + server
        result.update({
            "ctl_s": ctl1 - ctl0, "client_recorded": client, "server_recorded": server,
            "lost": lost,
            "agent_us_per_exch": result["agent_s"] * 1e6 / max(recorded, 1),
            "ctl_us_per_exch": (ctl1 - ctl0) * 1e6 / max(recorded, 1),
        })
        os.unlink(out)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--agent-bin", default=os.path.join(REPO, "bazel-bin/agent/httptrace-agent"))
    p.add_argument("--ctl-bin", default=os.path.join(REPO, "bazel-bin/cli/httptracectl"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=200000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--streams", type=int, default=10)
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("h2_bench: run as root (the probes need it)")

    workdir = tempfile.mkdtemp(prefix="h2bench.")
    with open(os.path.join(workdir, "small.json"), "w") as f:
        f.write('{"id":1,"name":"Alice","email":"alice@example"}\n'[:48])
    port = free_port()
    server = subprocess.Popen(["nghttpd", "--no-tls", "-n", "1", "-d", workdir, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = os.path.join(workdir, "agent.sock")
    agent_proc = subprocess.Popen([args.agent_bin, "--listen", "unix://" + sock],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = {"pid": agent_proc.pid, "socket": sock}
    results = []
    try:
        wait_port(port)
        wait_until(lambda: os.path.exists(sock), 30, "the agent's socket")
        h2load(port, argparse.Namespace(requests=2000, clients=args.clients,
                                        streams=args.streams))  # warm-up
        for r in range(args.rounds):
            for config in ("off", "jsonl"):
                res = run_one(config, port, server.pid, agent, workdir, args, r)
                log("round %d %s: %s" % (r, config, json.dumps(res)))
                results.append(res)
    finally:
        for proc in (server, agent_proc):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    def med(config, key):
        values = [x[key] for x in results if x["config"] == config and key in x]
        return statistics.median(values) if values else None

    off_rps = med("off", "rps")
    print("| h2load -n %d -c %d -m %d, nghttpd h2c, %d rounds | req/s | ratio | nghttpd µs/req | "
          "agent µs/exch | ctl µs/exch | recorded client / server | lost |"
          % (args.requests, args.clients, args.streams, args.rounds))
    print("|---|---|---|---|---|---|---|---|")
    for config in ("off", "jsonl"):
        rps = med(config, "rps")
        row = ["httptrace " + config if config != "off" else "no capture (agent idle)",
               "%.0f" % rps, "%.2f" % (rps / off_rps), "%.2f" % med(config, "server_us_per_req")]
        if config == "jsonl":
            done = med(config, "done")
            row += ["%.2f" % med(config, "agent_us_per_exch"), "%.2f" % med(config, "ctl_us_per_exch"),
                    "%.2f%% / %.2f%%" % (100.0 * med(config, "client_recorded") / done,
                                        100.0 * med(config, "server_recorded") / done),
                    "%d" % med(config, "lost")]
        else:
            row += ["–", "–", "–", "–"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
