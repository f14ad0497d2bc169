// Route templating: the path of a request target with the segments that name one object (ids)
// replaced by placeholders, so "/users/42" and "/users/43" are one route. `httptracectl top`
// groups by it and the OTLP exporter sends it as `http.route` and as a metric attribute, where it
// keeps the number of series bounded.
//
//   RouteOf("/users/42?x=1") == "/users/{id}"

#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace httptrace {

// The query and fragment are dropped; numbers become {id}, UUIDs {uuid}, and hex strings of 12
// or more characters with a digit {hex}. A target that is not a path ("*", "host:443") is kept
// as it is; an empty one is "/".
std::string RouteOf(absl::string_view target);

}  // namespace httptrace
