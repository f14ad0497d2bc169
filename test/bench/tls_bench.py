#!/usr/bin/env python3
"""What reading HTTPS at the TLS library costs: CPU per TLS call with and without the uprobes,
and nginx over TLS under wrk.

1. `calls`: a C program (built here with cc against the system's OpenSSL) makes a TLS
   connection over loopback to itself (a server thread) and does N SSL_write() of 100 bytes
   (the body of one large POST, so every call is classified HTTP and copied), each read by the
   server thread with SSL_read(): 2 TLS calls per iteration, both traced. Its CPU time (both
   threads, getrusage) per iteration, and the agent's CPU time over the same interval.
2. `nginx`: nginx (1 worker, TLS, keep-alive, a 48-byte file) under `wrk -t1 -c20`: req/s and
   nginx's CPU per request.
3. `go`: the Go crypto/tls server of the tests (test/servers/go_server.go, built here; probed at
   its (*Conn).Read/Write entries and RET instructions) under the same wrk: req/s and its CPU
   per request.

Configurations, interleaved per round: `off` (agent running, no session: no uprobe attached),
`match` (a session on the port: every call copied, exchanges streamed to jsonl), `nomatch` (a
session on an unused port: uprobes attached, nothing copied). Median of the rounds.

  bazel build //agent:httptrace-agent //cli:httptracectl
  test/bench/tls_bench.py [--rounds 3] [--iterations 200000] [--secs 5]
Needs root, cc, libssl-dev, nginx, wrk, go. Traffic only to 127.0.0.1; every run bounded.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CALLS_C = r'''
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long n;
static int lfd;
static SSL_CTX *sctx;

static void *server(void *arg) {
  int fd = accept(lfd, NULL, NULL);
  SSL *s = SSL_new(sctx);
  SSL_set_fd(s, fd);
  if (SSL_accept(s) != 1) { ERR_print_errors_fp(stderr); exit(1); }
  char buf[4096];
  long want = (long)arg;
  while (want > 0) {
    int r = SSL_read(s, buf, sizeof buf);
    if (r <= 0) { fprintf(stderr, "SSL_read %d\n", r); exit(1); }
    want -= r;
  }
  SSL_free(s);
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  n = atol(argv[1]);
  int port = atoi(argv[2]);
  sctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_file(sctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, argv[4], SSL_FILETYPE_PEM) != 1) { ERR_print_errors_fp(stderr); return 1; }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (void *)&a, sizeof a) || listen(lfd, 1)) { perror("bind"); return 1; }
  char head[128];
  int hl = snprintf(head, sizeof head, "POST /bench HTTP/1.1\r\nHost: x\r\nContent-Length: %ld\r\n\r\n", n * 100);
  pthread_t t;
  pthread_create(&t, NULL, server, (void *)(long)(hl + n * 100));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (void *)&a, sizeof a)) { perror("connect"); return 1; }
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL *c = SSL_new(cctx);
  SSL_set_fd(c, fd);
  if (SSL_connect(c) != 1) { ERR_print_errors_fp(stderr); return 1; }
  SSL_write(c, head, hl);
  char body[100];
  memset(body, 'x', sizeof body);
  struct rusage r0, r1;
  struct timespec w0, w1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (long i = 0; i < n; i++) {
    if (SSL_write(c, body, sizeof body) != sizeof body) { fprintf(stderr, "SSL_write\n"); return 1; }
  }
  pthread_join(t, NULL);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
               1e-6 * ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec));
  double wall = (w1.tv_sec - w0.tv_sec) + 1e-9 * (w1.tv_nsec - w0.tv_nsec);
  printf("%.9f %.9f\n", cpu, wall);
  return 0;
}
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="httptrace-tlsbench.")
        self.sock = os.path.join(self.dir, "agent.sock")
        self.cert, self.key = os.path.join(self.dir, "c.pem"), os.path.join(self.dir, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        self.calls_bin = os.path.join(self.dir, "tls_calls")
        src = self.calls_bin + ".c"
        with open(src, "w") as f:
            f.write(CALLS_C)
        subprocess.run(["cc", "-O2", "-o", self.calls_bin, src, "-lssl", "-lcrypto", "-lpthread"],
                       check=True)
        self.go_bin = os.path.join(self.dir, "go_server")
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run(["go", "build", "-o", self.go_bin,
                        os.path.join(here, "..", "servers", "go_server.go")], check=True,
                       env=dict(os.environ, GOCACHE=os.path.join(self.dir, "gocache"),
                                GO111MODULE="off", GOPROXY="off", CGO_ENABLED="0"))
        self.agent = subprocess.Popen([args.agent, "--listen", "unix://" + self.sock],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(self.dir, "agent.log"), "wb"))
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.agent.poll() is not None:
                raise RuntimeError("agent did not start")
            time.sleep(0.1)

    def close(self):
        self.agent.send_signal(signal.SIGTERM)
        self.agent.wait(timeout=30)
        shutil.rmtree(self.dir, True)

    def session(self, config, port):
        """Starts the configuration's session (None for `off`); returns the ctl process."""
        if config == "off":
            return None
        p = port if config == "match" else free_port()
        out = os.path.join(self.dir, "trace.jsonl")
        ctl = subprocess.Popen([self.args.ctl, "--agent", "unix://" + self.sock, "start",
                                "--format", "jsonl", "-o", out, "--port", str(p)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        line = ctl.stderr.readline().decode()
        if "started session" not in line:
            raise RuntimeError("ctl: " + line)
        return ctl

    def end(self, ctl):
        if ctl is not None:
            ctl.send_signal(signal.SIGINT)
            ctl.wait(timeout=60)

    def calls(self, config):
        port = free_port()
        ctl = self.session(config, port)
        a0 = cpu_seconds(self.agent.pid)
        r = subprocess.run([self.calls_bin, str(self.args.iterations), str(port), self.cert,
                            self.key], check=True, capture_output=True, timeout=300)
        a1 = cpu_seconds(self.agent.pid)
        self.end(ctl)
        cpu, wall = map(float, r.stdout.split())
        n = self.args.iterations
        return {"us_per_iter": 1e6 * cpu / n, "agent_us_per_iter": 1e6 * (a1 - a0) / n,
                "wall_us_per_iter": 1e6 * wall / n}

    def nginx(self, config):
        port = free_port()
        w = os.path.join(self.dir, "nginx")
        os.makedirs(w, exist_ok=True)
        with open(os.path.join(w, "j.json"), "w") as f:
            f.write('{"id":1,"name":"a user with a name","ok":true}')
        conf = os.path.join(w, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes 1; daemon off; user root; pid %(w)s/n.pid; error_log %(w)s/e.log;
events { worker_connections 256; }
http { access_log off; keepalive_timeout 60; keepalive_requests 1000000;
  client_body_temp_path %(w)s/b; proxy_temp_path %(w)s/p; fastcgi_temp_path %(w)s/f;
  uwsgi_temp_path %(w)s/u; scgi_temp_path %(w)s/s;
  server { listen 127.0.0.1:%(p)d ssl; root %(w)s; ssl_certificate %(c)s; ssl_certificate_key %(k)s; } }
""" % dict(w=w, p=port, c=self.cert, k=self.key))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        master = subprocess.Popen([nginx, "-c", conf, "-p", w], stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            kids = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True,
                                  text=True).stdout.split()
            worker = int(kids[0])
            return self.under_wrk(config, port, worker, "https://127.0.0.1:%d/j.json" % port,
                                  "libssl.so")
        finally:
            master.send_signal(signal.SIGTERM)
            master.wait(timeout=30)

    def go(self, config):
        port = free_port()
        root = os.path.join(self.dir, "nginx")  # j.json, written by nginx()
        server = subprocess.Popen([self.go_bin, "-root", root, "-listen", "127.0.0.1:%d" % port,
                                   "-cert", self.cert, "-key", self.key],
                                  stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            return self.under_wrk(config, port, server.pid, "https://127.0.0.1:%d/j.json" % port,
                                  self.go_bin)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    def under_wrk(self, config, port, server_pid, url, probed):
        """The configuration's session, then wrk on `url`: req/s, the server's and the agent's
        CPU per request. `probed`: what `status` lists once the server's library is probed."""
        ctl = self.session(config, port)
        if config != "off":
            deadline = time.monotonic() + 30
            while probed not in self.status():
                if time.monotonic() > deadline:
                    raise RuntimeError("the agent did not probe " + probed)
                time.sleep(0.1)
        c0, a0 = cpu_seconds(server_pid), cpu_seconds(self.agent.pid)
        r = subprocess.run(["wrk", "-t1", "-c20", "-d%ds" % self.args.secs, url],
                           capture_output=True, text=True, timeout=self.args.secs + 60)
        c1, a1 = cpu_seconds(server_pid), cpu_seconds(self.agent.pid)
        self.end(ctl)
        reqs = 0
        for line in r.stdout.splitlines():
            if "requests in" in line:
                reqs = int(line.split()[0])
        return {"req_s": reqs / self.args.secs, "server_us_per_req": 1e6 * (c1 - c0) / max(reqs, 1),
                "agent_us_per_req": 1e6 * (a1 - a0) / max(reqs, 1)}

    def status(self):
        return subprocess.run([self.args.ctl, "--agent", "unix://" + self.sock, "status",
                               "--counters"],
                              capture_output=True, text=True, timeout=30).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=200000)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--agent", default="bazel-bin/agent/httptrace-agent")
    ap.add_argument("--ctl", default="bazel-bin/cli/httptracectl")
    args = ap.parse_args()
    bench = Bench(args)
    configs = ["off", "nomatch", "match"]
    kinds = ("calls", "nginx", "go")
    results = {(k, c): [] for k in kinds for c in configs}
    try:
        for r in range(args.rounds):
            order = configs[r % 3:] + configs[:r % 3]
            for c in order:
                for k in kinds:
                    results[(k, c)].append(getattr(bench, k)(c))
                print("round %d %s: %s" % (r, c, [results[(k, c)][-1] for k in kinds]),
                      flush=True)
    finally:
        bench.close()

    def med(kind, c, key):
        return statistics.median(x[key] for x in results[(kind, c)])

    print("\nTLS calls (SSL_write of 100 B + SSL_read, one iteration = 2 traced calls), median "
          "of %d rounds:" % args.rounds)
    print("| config | process CPU µs/iteration | ratio to off | agent CPU µs/iteration |")
    print("|---|---|---|---|")
    for c in configs:
        print("| %s | %.2f | %.2f | %.2f |" % (c, med("calls", c, "us_per_iter"),
                                               med("calls", "off", "us_per_iter") /
                                               med("calls", c, "us_per_iter"),
                                               med("calls", c, "agent_us_per_iter")))
    for k, name in (("nginx", "nginx"), ("go", "Go crypto/tls server")):
        print("\n%s over TLS under wrk -t1 -c20 -d%ds (48-byte file):" % (name, args.secs))
        print("| config | req/s | ratio | server CPU µs/request | agent CPU µs/request |")
        print("|---|---|---|---|---|")
        for c in configs:
            print("| %s | %.0f | %.2f | %.1f | %.1f |" % (
                c, med(k, c, "req_s"), med(k, c, "req_s") / med(k, "off", "req_s"),
                med(k, c, "server_us_per_req"), med(k, c, "agent_us_per_req")))


if __name__ == "__main__":
    sys.exit(main())
