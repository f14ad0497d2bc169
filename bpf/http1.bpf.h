// The HTTP/1.x classifier of the capture probes: does a connection's first payload begin an
// HTTP/1.x request or status line, and did a payload the ring buffer refused begin a message (so
// the loss is counted in messages)? Kernel-only (included by capture.bpf.c); the agent's HTTP/1
// engine is agent/protocols/http1.

#pragma once

#include "bpf/events.h"
#include "http_methods.h"  // generated beside vmlinux.h (bpf/BUILD.bazel)

// Matches the start of an HTTP/1.x message. With fewer than the token's bytes available the
// available prefix must match. Returns 1 for a request, 2 for a response, 0 otherwise.
// Methods longer than 15 bytes (BASELINE-CONTROL, UPDATEREDIRECTREF) are matched on their first
// HT_PEEK bytes (two words: http1_classify).
#define HT_PEEK 16
// Empty lines (CR, LF) looked past before a request line (RFC 9112 2.2: a server ignores at least
// one); the engine skips them too.
#define HT_H1_MAX_EMPTY_LINE_BYTES 4
static __always_inline int http1_match(const __u8* h, __u32 n, const char* tok, __u32 len) {
#pragma unroll
  for (int i = 0; i < HT_PEEK; i++) {
    if (i >= len || i >= n) break;
    if (h[i] != (__u8)tok[i]) return 0;
  }
  return 1;
}

// A method's token (the name and its space, at most HT_PEEK bytes) as two little-endian words,
// and the mask of its bytes: compile-time constants (clang folds the string literal's bytes).
#define HT_TOK_BYTE(s, i)                                                 \
  ((__u64)((i) < sizeof(s) - 1 ? (__u8)(s)[(i) < sizeof(s) - 1 ? (i) : 0] \
                               : ((i) == sizeof(s) - 1 ? ' ' : 0)))
#define HT_TOK_WORD(s, k)                                                  \
  (HT_TOK_BYTE(s, 8 * (k) + 0) | HT_TOK_BYTE(s, 8 * (k) + 1) << 8 |        \
   HT_TOK_BYTE(s, 8 * (k) + 2) << 16 | HT_TOK_BYTE(s, 8 * (k) + 3) << 24 | \
   HT_TOK_BYTE(s, 8 * (k) + 4) << 32 | HT_TOK_BYTE(s, 8 * (k) + 5) << 40 | \
   HT_TOK_BYTE(s, 8 * (k) + 6) << 48 | HT_TOK_BYTE(s, 8 * (k) + 7) << 56)
// Mask of the first `b` bytes of word k (b counted from the token's start, any value).
#define HT_BYTES_MASK(b, k) \
  ((b) <= 8 * (k) ? 0ULL : (b) >= 8 * (k) + 8 ? ~0ULL : ((1ULL << (8 * ((b)-8 * (k)))) - 1))

// `h` holds the first n (<= HT_PEEK) bytes of a payload; only those are compared.
static __always_inline int http1_classify(const __u8* h, __u32 n) {
  if (http1_match(h, n, "HTTP/1.", 7)) return 2;
  // Every method of agent/protocols/http1/methods.txt (IANA's registry, and what libhttp-parser
  // and llhttp accept): one list, generated into http_methods.h for the engine and the probes,
  // so no method is traced by one side and not the other. Compared a word at a time against
  // constants, over the bytes both the token and the payload have (a payload shorter than the
  // token must be its prefix): a byte loop per method made the probes too large for the
  // verifier (E2BIG) once the list grew past libhttp-parser's.
  __u64 w0, w1;
  __builtin_memcpy(&w0, h, 8);
  __builtin_memcpy(&w1, h + 8, 8);
  const __u64 seen0 = HT_BYTES_MASK((__u64)n, 0), seen1 = HT_BYTES_MASK((__u64)n, 1);
#define HT_MATCH_METHOD(name)                                                        \
  if (((w0 ^ HT_TOK_WORD(name, 0)) & HT_BYTES_MASK(sizeof(name), 0) & seen0) == 0 && \
      ((w1 ^ HT_TOK_WORD(name, 1)) & HT_BYTES_MASK(sizeof(name), 1) & seen1) == 0)   \
    return 1;
  HT_HTTP1_METHODS(HT_MATCH_METHOD)
#undef HT_MATCH_METHOD
  return 0;
}

// How many of the first bytes of `h` (n of them) are CR or LF, at most
// HT_H1_MAX_EMPTY_LINE_BYTES: empty lines before a start line.
static __always_inline __u32 http1_empty_line_bytes(const __u8* h, __u32 n) {
  __u32 k = 0;
#pragma unroll
  for (int i = 0; i < HT_H1_MAX_EMPTY_LINE_BYTES; i++) {
    if (k != (__u32)i || i >= n || (h[i] != '\r' && h[i] != '\n')) break;
    k++;
  }
  return k;
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
