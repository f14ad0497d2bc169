#include "agent/pipeline/exchange_converter.h"

#include <utility>

#include "google/protobuf/util/time_util.h"

namespace httptrace::pipeline {
namespace {

using google::protobuf::util::TimeUtil;

void MoveHeaders(std::vector<protocols::Header>& from,
                 google::protobuf::RepeatedPtrField<v1::Header>* to) {
  to->Reserve(static_cast<int>(from.size()));
  for (protocols::Header& header : from) {
    v1::Header* out = to->Add();
    out->set_name(std::move(header.name));
    out->set_value(std::move(header.value));
  }
}

void MoveBody(protocols::Body& from, v1::Body* to) {
  to->set_data(std::move(from.data));
  to->set_size(from.size);
  to->set_truncated(from.truncated);
  to->set_decoded_from(std::move(from.decoded_from));
  to->set_encoded_size(from.encoded_size);
}

void MoveGrpcMessages(protocols::GrpcMessages& from, v1::GrpcMessages* to) {
  to->set_count(from.count);
  to->set_framing_lost(from.framing_lost);
  for (protocols::GrpcMessage& message : from.messages) {
    v1::GrpcMessage* out = to->add_messages();
    out->set_size(message.size);
    out->set_compressed(message.compressed);
    out->set_data(std::move(message.data));
    out->set_missing_bytes(message.missing_bytes);
    out->set_complete(message.complete);
    out->set_decoded_from(std::move(message.decoded_from));
  }
}

void MoveGrpc(protocols::GrpcCall& from, v1::Grpc* to) {
  to->set_service(std::move(from.service));
  to->set_method(std::move(from.method));
  if (from.status_code) to->set_status_code(*from.status_code);
  to->set_status_message(std::move(from.status_message));
  to->set_encoding(std::move(from.encoding));
  to->set_trailers_only(from.trailers_only);
  MoveGrpcMessages(from.request, to->mutable_request());
  MoveGrpcMessages(from.response, to->mutable_response());
}

}  // namespace

void ToProtoExchange(protocols::Exchange&& exchange, const ConnectionContext& context,
                     v1::Exchange* exchange_out) {
  v1::Exchange& out = *exchange_out;
  *out.mutable_start_time() =
      TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(exchange.start_time_ns));
  if (exchange.has_request && exchange.has_response) {
    *out.mutable_latency() =
        TimeUtil::NanosecondsToDuration(static_cast<int64_t>(exchange.latency_ns()));
  }
  v1::Process* process = out.mutable_process();
  process->set_pid(context.pid);
  process->set_tid(context.tid);
  process->set_comm(context.comm);
  if (context.container) *process->mutable_container() = *context.container;

  v1::Connection* connection = out.mutable_connection();
  connection->mutable_local()->set_address(context.local_address);
  connection->mutable_local()->set_port(context.local_port);
  connection->mutable_remote()->set_address(context.remote_address);
  connection->mutable_remote()->set_port(context.remote_port);
  connection->set_role(exchange.traced_process_is_client() ? v1::ROLE_CLIENT : v1::ROLE_SERVER);
  connection->set_id(context.connection_id);
  if (!context.tls_library.empty()) connection->mutable_tls()->set_library(context.tls_library);

  if (exchange.has_request) {
    v1::HttpRequest* request = out.mutable_request();
    request->set_method(std::move(exchange.request.method));
    request->set_target(std::move(exchange.request.target));
    request->set_version(std::move(exchange.request.version));
    MoveHeaders(exchange.request.headers, request->mutable_headers());
    MoveHeaders(exchange.request.trailers, request->mutable_trailers());
    MoveBody(exchange.request.body, request->mutable_body());
    if (exchange.request_end_time_ns != 0) {
      *request->mutable_end_time() =
          TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(exchange.request_end_time_ns));
    }
  }
  if (exchange.has_response) {
    v1::HttpResponse* response = out.mutable_response();
    response->set_version(std::move(exchange.response.version));
    response->set_status(exchange.response.status);
    response->set_reason(std::move(exchange.response.reason));
    MoveHeaders(exchange.response.headers, response->mutable_headers());
    MoveHeaders(exchange.response.trailers, response->mutable_trailers());
    MoveBody(exchange.response.body, response->mutable_body());
    if (exchange.response_start_time_ns != 0) {
      *response->mutable_start_time() =
          TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(exchange.response_start_time_ns));
    }
    if (exchange.end_time_ns != 0) {
      *response->mutable_end_time() =
          TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(exchange.end_time_ns));
    }
  }
  out.set_complete(exchange.complete);
  for (std::string& note : exchange.notes) out.add_notes(std::move(note));
  out.set_node(context.node);
  out.set_stream_id(exchange.stream_id);
  if (exchange.grpc) MoveGrpc(*exchange.grpc, out.mutable_grpc());
}

}  // namespace httptrace::pipeline
