// Events for the renderers' tests and benchmark: the seed's GET /users answered by a server.

#pragma once

#include "proto/httptrace.pb.h"

namespace httptrace::render {

// seq 12, 2026-11-27 17:31:45.123456789 UTC, nginx (pid 4213) serving 127.0.0.1:8080 to
// 127.0.0.1:51234 on connection 7: GET /users (Host) answered 200 OK with a JSON body, 532 µs.
v1::Event UsersExchange();

}  // namespace httptrace::render
