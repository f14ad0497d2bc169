// What container attribution costs the agent's poll thread: one Lookup per new connection (cached
// per process: a /proc/<pid>/stat read to tell a reused pid apart), and the cgroup parse on a miss.
//
//   bazel run -c opt //agent/container:container_resolver_benchmark

#include <unistd.h>

#include <string>

#include "agent/container/cgroup_parser.h"
#include "agent/container/container_resolver.h"
#include "benchmark/benchmark.h"

namespace httptrace::container {
namespace {

void BM_LookupCachedProcess(benchmark::State& state) {
  ResolverOptions options;
  options.engine_sockets = {};
  ContainerResolver resolver(options);
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  resolver.Lookup(pid);
  for (auto _ : state) benchmark::DoNotOptimize(resolver.Lookup(pid));
}
BENCHMARK(BM_LookupCachedProcess);

void BM_LookupNewProcess(benchmark::State& state) {
  ResolverOptions options;
  options.engine_sockets = {};
  options.cache_ttl = absl::ZeroDuration();  // every look-up reads the cgroup file again
  ContainerResolver resolver(options);
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  for (auto _ : state) benchmark::DoNotOptimize(resolver.Lookup(pid));
}
BENCHMARK(BM_LookupNewProcess);

void BM_ParseProcCgroupHybridContainer(benchmark::State& state) {
  const std::string id(64, 'a');
  std::string file;
  for (const char* controller : {"name=systemd", "pids", "blkio", "freezer", "devices", "memory",
                                 "cpuset", "cpuacct", "cpu"}) {
    file += std::string("1:") + controller + ":/libpod_parent/libpod-" + id + "\n";
  }
  file += "0::/libpod_parent/libpod-" + id + "\n";
  for (auto _ : state) benchmark::DoNotOptimize(ParseProcCgroup(file));
}
BENCHMARK(BM_ParseProcCgroupHybridContainer);

}  // namespace
}  // namespace httptrace::container
