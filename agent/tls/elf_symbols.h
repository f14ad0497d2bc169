// Whether an ELF file defines functions by name, from its .symtab or .dynsym: finds TLS
// libraries linked statically into an executable (OpenSSL or BoringSSL inside `node`, a static
// curl), which no library file name gives away.
//   absl::StatusOr<bool> yes = DefinesFunctions("/usr/bin/app", {"SSL_read", "SSL_write"});

#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace httptrace::tls {

// True when every name is a defined function symbol (STT_FUNC, non-zero address). Errors: the
// file cannot be opened or is not a 64-bit little-endian ELF file.
absl::StatusOr<bool> DefinesFunctions(const std::string& path,
                                      const std::vector<std::string>& names);

}  // namespace httptrace::tls
