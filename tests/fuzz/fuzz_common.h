#pragma once

// Shared by the fuzz targets: a failed invariant prints what broke and aborts,
// so libFuzzer saves the input as a crash (assert() would vanish in a build
// with NDEBUG).

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)
