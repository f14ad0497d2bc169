// The HTTP/1.x classifier of the capture probes: does a connection's first payload begin an
// HTTP/1.x request or status line, and did a payload the ring buffer refused begin a message (so
// the loss is counted in messages)? Kernel-only (included by capture.bpf.c); the agent's HTTP/1
// engine is agent/protocols/http1.

#pragma once

#include "bpf/events.h"
#include "http_methods.h"  // generated beside vmlinux.h (bpf/BUILD.bazel)

// Matches the start of an HTTP/1.x message. With fewer than the token's bytes available the
// available prefix must match. Returns 1 for a request, 2 for a response, 0 otherwise.
#define HT_PEEK 16  // longer than the longest method plus its space ("UNSUBSCRIBE ")
static __always_inline int http1_match(const __u8* h, __u32 n, const char* tok, __u32 len) {
#pragma unroll
  for (int i = 0; i < HT_PEEK; i++) {
    if (i >= len || i >= n) break;
    if (h[i] != (__u8)tok[i]) return 0;
  }
  return 1;
}

// `h` holds the first n (<= HT_PEEK) bytes of a payload.
static __always_inline int http1_classify(const __u8* h, __u32 n) {
  if (http1_match(h, n, "HTTP/1.", 7)) return 2;
    // Every method libhttp-parser knows (the engine parses with it): one list, generated from
    // its HTTP_METHOD_MAP into http_methods.h, so no method is traced by one side and not the
    // other. sizeof counts the NUL, which stands for the space after the method.
#define HT_MATCH_METHOD(num, name, string) \
  if (http1_match(h, n, #string " ", sizeof(#string))) return 1;
  HT_HTTP_METHOD_MAP(HT_MATCH_METHOD)
#undef HT_MATCH_METHOD
  return 0;
}

// Whether a payload refused by the ring buffer began an HTTP message, so the loss can be counted
// in messages, not only bytes: "HTTP/" (a status line), or four capitals, or three and a space
// (the start of a request line: GET, PUT, POST, HEAD, DELETE, PATCH, OPTIONS, every method but
// M-SEARCH, whose requests are counted as bytes only). Word arithmetic, two branches: a loop over
// the bytes made raw_sys_exit's jump sequences too long for the verifier (ENOMEM). `p` holds at
// least 8 bytes; it runs once per syscall whose first event the ring buffer refused.
static __always_inline int http1_begins_message(const __u8* p) {
  __u64 w;
  __builtin_memcpy(&w, p, sizeof(w));                      // little-endian: p[0] is the low byte
  if ((w & 0xFFFFFFFFFFULL) == 0x2F50545448ULL) return 1;  // "HTTP/"
  __u32 v = (__u32)w;
  // Per byte b < 0x80: b + 0x3F sets bit 7 iff b >= 'A', b + 0x25 iff b > 'Z' (no carries).
  __u32 capitals = (v + 0x3F3F3F3FU) & ~(v + 0x25252525U) & 0x80808080U;
  if ((v >> 24) == ' ') capitals |= 0x80000000U;
  return !(v & 0x80808080U) && capitals == 0x80808080U;
}
