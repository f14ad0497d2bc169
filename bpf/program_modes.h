// Which programs of capture.bpf.c each attach mode loads, by section name: one rule for the
// agent's loader and the verifier test. Plain C, no libbpf types.

#pragma once

#include <string.h>

// raw_tp/sys_exit: raw mode only; tracepoint/syscalls/...: tracepoint mode only; every other
// raw tracepoint (the socket ends: inet_sock_set_state, tcp_destroy_sock) serves both modes.
static inline int ht_program_in_mode(const char* section, int raw_mode) {
  if (strncmp(section, "tracepoint/", 11) == 0) return !raw_mode;
  if (strcmp(section, "raw_tp/sys_exit") == 0) return raw_mode;
  return 1;
}

// The TLS programs (bpf/tls.bpf.h, named tls_*) are attached by the agent's TLS library
// discovery (agent/tls/), per library file, never by the capture's own attach.
static inline int ht_program_is_tls(const char* name) { return strncmp(name, "tls_", 4) == 0; }
