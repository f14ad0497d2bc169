// Fixed glibc malloc thresholds for the agent's allocation pattern: event batches of up to a
// megabyte and bodies of 64 KiB, allocated on one thread and freed on another, in bursts.
// glibc's dynamic thresholds give such blocks mmaps of their own and trim the heap after each
// burst, so the next burst faults every page in again (a fifth of the agent's CPU with 64 KiB
// bodies in //agent/pipeline:pipeline_benchmark). Call once, first thing in main.

#pragma once

namespace httptrace {

// Blocks below 4 MiB come from the heap; up to 8 MiB of free heap per arena is kept for reuse.
void TuneAllocator();

}  // namespace httptrace
