// CPU clocks for the benchmark programs: the calling thread's, and the whole process's (every
// thread, user and system), in seconds. Benchmarks report CPU per unit of work from these, not
// wall time (this machine is shared and noisy).

#pragma once

#include <sys/resource.h>
#include <time.h>

namespace httptrace::test_support {

inline double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

inline double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec * 1e-6;
}

}  // namespace httptrace::test_support
