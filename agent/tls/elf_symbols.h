// Whether an ELF file defines functions by name, from its .symtab or .dynsym: finds TLS
// libraries linked statically into an executable (OpenSSL or BoringSSL inside `node`, a static
// curl), which no library file name gives away.
//   absl::StatusOr<bool> yes = DefinesFunctions("/usr/bin/app", {"SSL_read", "SSL_write"});

#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace httptrace::tls {

// The names that are not defined function symbols (STT_FUNC, non-zero address) of the file, in
// the order given: one pass over the file for any number of names. Errors: the file cannot be
// opened or is not a 64-bit little-endian ELF file.
absl::StatusOr<std::vector<std::string>> MissingFunctions(const std::string& path,
                                                          const std::vector<std::string>& names);

// True when every name is a defined function symbol. Errors: as MissingFunctions.
absl::StatusOr<bool> DefinesFunctions(const std::string& path,
                                      const std::vector<std::string>& names);

}  // namespace httptrace::tls
