"""cc_grpc_library: C++ code for a .proto (messages and gRPC stubs) from Debian's protoc.

Bazel 4's native proto rules would download protobuf's sources; Debian ships protoc and
grpc_cpp_plugin, so a genrule calls them and a cc_library wraps the output. The header path is the
.proto path with .pb.h / .grpc.pb.h (e.g. "proto/httptrace.pb.h").
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_grpc_library(name, src, grpc = True, deps = [], visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    plugin = ""
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        plugin = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR) " + plugin + "$(location " + src + ")",
    )
    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system_libs//:protobuf"] + (["@system_libs//:grpc++"] if grpc else []),
        visibility = visibility,
    )
