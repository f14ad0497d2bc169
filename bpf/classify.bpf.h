// Which protocol a connection carries, from the first bytes the probes see of it: one call per
// syscall until it is decided (conn_state.protocol), then never again. Kernel-only (included by
// capture.bpf.c); the classifiers of each protocol are in their own headers. bpf/README.md
// ("Protocols") says what is accepted and rejected.

#pragma once

#include "bpf/events.h"
#include "bpf/http1.bpf.h"
#include "bpf/http2.bpf.h"

enum ht_class {
  HT_CLASS_UNREADABLE = -1,  // the first bytes could not be read: nothing is decided
  HT_CLASS_NONE = 0,         // not the start of anything we trace
  HT_CLASS_H1_REQUEST = 1,   // an HTTP/1.x request line
  HT_CLASS_H1_RESPONSE = 2,  // an HTTP/1.x status line
  HT_CLASS_H2_PREFACE = 3,   // the HTTP/2 client preface (sent by the client)
  HT_CLASS_H2_FRAMES = 4,    // HTTP/2 frames of a connection joined mid-stream
  HT_CLASS_H2_SETTINGS = 5,  // the HTTP/2 server preface (a SETTINGS frame, sent by the server)
  HT_CLASS_TLS = 6,          // a TLS record: its plaintext is read at the library (tls.bpf.h)
  HT_CLASS_EMPTY_LINES = 7,  // CR/LF only, as before an HTTP/1.x request line: decides nothing
};

// The protocol of a class (HT_PROTO_UNKNOWN for none).
static __always_inline __u8 class_protocol(int kind) {
  if (kind == HT_CLASS_H1_REQUEST || kind == HT_CLASS_H1_RESPONSE) return HT_PROTO_HTTP1;
  if (kind == HT_CLASS_H2_PREFACE || kind == HT_CLASS_H2_FRAMES || kind == HT_CLASS_H2_SETTINGS)
    return HT_PROTO_HTTP2;
  return HT_PROTO_UNKNOWN;
}

// Iovecs followed to find a frame header beyond the first iovec (a frame's header and payload
// written from separate slices, as gRPC does, spread one frame over several).
#define HT_CLASSIFY_IOVS 8

// Reads the HT_H2_FRAME_HEADER bytes at `offset` of the data that begins at the iovec at user
// address s->class_iov into s->peek, across up to HT_CLASSIFY_IOVS iovecs (it may straddle
// two). 0 when read. The caller has checked that they lie within the syscall's bytes.
static __always_inline int gather_frame_header(struct scratch* s, __u64 offset) {
  __u32 got = 0;
  for (int i = 0; i < HT_CLASSIFY_IOVS; i++) {
    if (i >= s->class_nvec) return -1;
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), (void*)(s->class_iov + i * sizeof(v)))) return -1;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    __u64 left = v.iov_len - offset;
    __u32 take = left < HT_H2_FRAME_HEADER - got ? (__u32)left : HT_H2_FRAME_HEADER - got;
    __u32 at = got;
    barrier_var(take);
    barrier_var(at);
    if (at >= HT_H2_FRAME_HEADER || take == 0 || take > HT_H2_FRAME_HEADER) return -1;
    if (bpf_probe_read_user(&s->peek[at], take, (void*)((__u64)v.iov_base + offset))) return -1;
    got = at + take;
    if (got >= HT_H2_FRAME_HEADER) return 0;
    offset = 0;
  }
  return -1;
}

// Classifies the `avail` bytes at user address `ptr`, the first of a syscall's payload (the
// first non-empty iovec's; s->class_* say where the rest is).
// `mid_stream`: the connection was found already open (no connect/accept seen), so it may be in
// the middle of anything: HTTP/2 frames are then accepted as evidence too, but only two frame
// headers in a row (or one frame that is exactly the whole payload), the second found across
// iovecs if need be. Out of line: inlined, it would grow raw_sys_exit towards the verifier's
// 16-bit jump limit (README.md, TLS).
static __noinline int classify(__u64 ptr, __u64 avail, int mid_stream, struct scratch* s) {
  __u8 h[HT_PEEK] = {};
  __u32 n = avail < HT_PEEK ? (__u32)avail : HT_PEEK;
  barrier_var(n);  // clang drops a bound it can prove; the verifier cannot
  if (n == 0 || n > HT_PEEK) return HT_CLASS_UNREADABLE;
  if (bpf_probe_read_user(h, n, (void*)ptr)) return HT_CLASS_UNREADABLE;
  // "PRI" is an HTTP/1 method too: the preface is checked first.
  if (http1_match(h, n, HT_H2_PREFACE_LINE, sizeof(HT_H2_PREFACE_LINE) - 1))
    return HT_CLASS_H2_PREFACE;
  // Empty lines before a request line (RFC 9112 2.2): looked past, by reading again after them
  // (one classification: two made raw_sys_exit too complex for the verifier).
  __u32 skip = http1_empty_line_bytes(h, n);
  if (skip) {
    if (skip >= avail) return HT_CLASS_EMPTY_LINES;
    n = avail - skip < HT_PEEK ? (__u32)(avail - skip) : HT_PEEK;
    barrier_var(n);
    if (n == 0 || n > HT_PEEK) return HT_CLASS_NONE;
    if (bpf_probe_read_user(h, n, (void*)(ptr + skip))) return HT_CLASS_UNREADABLE;
  }
  int kind = http1_classify(h, n);
  if (kind) return kind;
  if (skip) {
    // Still only empty lines within the look: the start may follow.
    return n < HT_PEEK && http1_empty_line_bytes(h, n) == n ? HT_CLASS_EMPTY_LINES : HT_CLASS_NONE;
  }
  // A TLS handshake or application-data record (content type 22 or 23, version 3.x).
  if (n >= 3 && (h[0] == 22 || h[0] == 23) && h[1] == 3 && h[2] <= 4) return HT_CLASS_TLS;
  if (n < HT_H2_FRAME_HEADER) return HT_CLASS_NONE;
  if (http2_server_preface(h)) return HT_CLASS_H2_SETTINGS;
  if (!mid_stream) return HT_CLASS_NONE;
  __u32 first = http2_plausible_frame(h);
  if (!first) return HT_CLASS_NONE;
  __u64 total = s->class_iov ? s->class_total : avail;
  if (first == total) return HT_CLASS_H2_FRAMES;
  if (first > total || total - first < HT_H2_FRAME_HEADER) return HT_CLASS_NONE;
  if (first + HT_H2_FRAME_HEADER <= avail) {
    __u8 next[HT_H2_FRAME_HEADER] = {};
    if (bpf_probe_read_user(next, sizeof(next), (void*)(ptr + first))) return HT_CLASS_NONE;
    return http2_plausible_frame(next) ? HT_CLASS_H2_FRAMES : HT_CLASS_NONE;
  }
  if (!s->class_iov || gather_frame_header(s, first)) return HT_CLASS_NONE;
  return http2_plausible_frame(s->peek) ? HT_CLASS_H2_FRAMES : HT_CLASS_NONE;
}
