// The HTTP/2 classifier of the capture probes. Kernel-only (included by capture.bpf.c through
// classify.bpf.h); the agent's HTTP/2 engine is agent/protocols/http2. What it accepts and
// rejects is in bpf/README.md ("Protocols").

#pragma once

#include "bpf/events.h"

// The client connection preface's first line (RFC 9113 §3.4): "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".
// Its first 16 bytes are checked; "PRI" is also an HTTP/1 method, so this comes first.
#define HT_H2_PREFACE_LINE "PRI * HTTP/2.0\r\n"
#define HT_H2_FRAME_HEADER 9
// The default SETTINGS_MAX_FRAME_SIZE: larger frames only after the receiver asked for them, so a
// mid-stream guess does not take them (a later syscall with a smaller frame will do).
#define HT_H2_MAX_GUESSED_FRAME 16384

// Whether `h` (at least 9 bytes) is a frame header an HTTP/2 peer could send: a known type with
// the flags, length and stream-id rules RFC 9113 §6 gives it. Unknown types (allowed by the
// protocol) are rejected: they would make the guess match too much. Returns the frame's payload
// length + 9, or 0.
static __always_inline __u32 http2_plausible_frame(const __u8* h) {
  __u32 len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
  __u8 type = h[3];
  __u8 flags = h[4];
  if (h[5] & 0x80) return 0;  // the reserved bit
  int stream0 = !(h[5] | h[6] | h[7] | h[8]);
  if (len > HT_H2_MAX_GUESSED_FRAME) return 0;
  int ok = 0;
  switch (type) {
    case 0:  // DATA: END_STREAM, PADDED
      ok = !stream0 && !(flags & ~0x09);
      break;
    case 1:  // HEADERS: END_STREAM, END_HEADERS, PADDED, PRIORITY
      ok = !stream0 && !(flags & ~0x2d) && len > 0;
      break;
    case 2:  // PRIORITY
      ok = !stream0 && len == 5 && !flags;
      break;
    case 3:  // RST_STREAM
      ok = !stream0 && len == 4 && !flags;
      break;
    case 4:  // SETTINGS: ACK (empty) or a list of 6-byte settings
      ok = stream0 && !(flags & ~0x01) && len % 6 == 0 && !(flags && len);
      break;
    case 5:  // PUSH_PROMISE: END_HEADERS, PADDED
      ok = !stream0 && !(flags & ~0x0c) && len >= 4;
      break;
    case 6:  // PING: ACK
      ok = stream0 && len == 8 && !(flags & ~0x01);
      break;
    case 7:  // GOAWAY
      ok = stream0 && len >= 8 && !flags;
      break;
    case 8:  // WINDOW_UPDATE
      ok = len == 4 && !flags;
      break;
    case 9:  // CONTINUATION: END_HEADERS
      ok = !stream0 && !(flags & ~0x04);
      break;
  }
  return ok ? len + HT_H2_FRAME_HEADER : 0;
}

// The server connection preface: a SETTINGS frame (not an ACK) with a handful of settings, which
// servers (nghttpd, nginx, Go) write as soon as they accept, before reading the client's preface,
// and which clients (nghttp) may read before writing theirs. `h` holds at least 9 bytes.
static __always_inline int http2_server_preface(const __u8* h) {
  return h[0] == 0 && h[1] == 0 && h[2] % 6 == 0 && h[2] <= 60 && h[3] == 4 && h[4] == 0 &&
         !(h[5] | h[6] | h[7] | h[8]);
}

// Whether a payload refused by the ring buffer began an HTTP/2 message: a HEADERS frame (a
// request's or a response's headers). `p` holds at least 8 bytes: type, flags and the reserved
// bit are checked, not the stream id's last byte. A lower bound: one syscall may carry many
// streams' frames.
static __always_inline int http2_begins_message(const __u8* p) {
  return p[3] == 1 && !(p[4] & ~0x2d) && !(p[5] & 0x80) && p[0] == 0 && p[1] <= 0x40;
}
