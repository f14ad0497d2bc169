// The capture object for a kernel (see probe_object.h).

#include "agent/capture/probe_object.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "bpf/capture.skel.h"
#include "bpf/capture_compat.skel.h"

namespace httptrace::capture {
namespace {

absl::Status OpenError(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err < 0 ? -err : err, what);
}

}  // namespace

void CaptureObjectDeleter::operator()(capture_bpf* skel) const { capture_bpf__destroy(skel); }

absl::StatusOr<CaptureObject> OpenCaptureObject(const KernelFeatures& features) {
  // capture_bpf__open() with another ELF image: both objects come from one source with one set
  // of maps, programs and globals, so struct capture_bpf describes either. The skeleton binds
  // maps and programs by name (a missing one fails the open); the globals' layout is checked
  // below.
  CaptureObject skel(static_cast<capture_bpf*>(calloc(1, sizeof(capture_bpf))));
  if (!skel) return absl::ResourceExhaustedError("allocating the capture skeleton");
  if (int err = capture_bpf__create_skeleton(skel.get()); err != 0) {
    return OpenError(err, "creating the capture skeleton");
  }
  if (features.compat_object()) {
    skel->skeleton->data =
        const_cast<void*>(capture_compat_bpf__elf_bytes(&skel->skeleton->data_sz));
  }
  if (int err = bpf_object__open_skeleton(skel->skeleton, nullptr); err != 0) {
    return OpenError(err, "opening the capture probes (bpf_object__open_skeleton)");
  }
  if (bpf_map__value_size(skel->maps.rodata) != sizeof(*skel->rodata) ||
      bpf_map__value_size(skel->maps.bss) != sizeof(*skel->bss)) {
    return absl::InternalError("the compat capture object's globals differ from the default's");
  }
  skel->rodata->have_task_storage = features.task_storage;
  skel->rodata->have_task_pt_regs = features.task_pt_regs;
  if (!features.task_storage) {
    // Same key (a 4-byte int: the thread id instead of a pidfd) and value; LRU so threads that
    // ended make room. LRU maps take no BPF_F_NO_PREALLOC.
    if (int err = bpf_map__set_type(skel->maps.calls, BPF_MAP_TYPE_LRU_HASH); err != 0) {
      return OpenError(err, "retyping map calls");
    }
    if (int err = bpf_map__set_map_flags(skel->maps.calls, 0); err != 0) {
      return OpenError(err, "setting the flags of map calls");
    }
    if (int err = bpf_map__set_max_entries(skel->maps.calls, kCallsHashEntries); err != 0) {
      return OpenError(err, "sizing map calls");
    }
  }
  return skel;
}

}  // namespace httptrace::capture
