// The fuzzers' invariant check: on failure, print the condition and abort, so libFuzzer saves
// the input as a crash. Not assert(): it must hold in every build mode the fuzzers use.

#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                     \
  do {                                                            \
    if (!(condition)) {                                           \
      std::fprintf(stderr, "invariant failed: %s\n", #condition); \
      std::abort();                                               \
    }                                                             \
  } while (0)
