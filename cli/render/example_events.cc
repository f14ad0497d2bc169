#include "cli/render/example_events.h"

namespace httptrace::render {

v1::Event UsersExchange() {
  v1::Event event;
  event.set_seq(12);
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_start_time()->set_seconds(1795800705);  // 2026-11-27 17:31:45 UTC
  x->mutable_start_time()->set_nanos(123456789);
  x->mutable_latency()->set_nanos(532000);
  x->set_complete(true);
  x->mutable_process()->set_pid(4213);
  x->mutable_process()->set_tid(4213);
  x->mutable_process()->set_comm("nginx");
  x->mutable_connection()->mutable_local()->set_address("127.0.0.1");
  x->mutable_connection()->mutable_local()->set_port(8080);
  x->mutable_connection()->mutable_remote()->set_address("127.0.0.1");
  x->mutable_connection()->mutable_remote()->set_port(51234);
  x->mutable_connection()->set_role(v1::ROLE_SERVER);
  x->mutable_connection()->set_id(7);
  v1::HttpRequest* req = x->mutable_request();
  req->set_method("GET");
  req->set_target("/users");
  req->set_version("HTTP/1.1");
  v1::Header* host = req->add_headers();
  host->set_name("Host");
  host->set_value("localhost:8080");
  v1::HttpResponse* resp = x->mutable_response();
  resp->set_version("HTTP/1.1");
  resp->set_status(200);
  resp->set_reason("OK");
  v1::Header* type = resp->add_headers();
  type->set_name("Content-Type");
  type->set_value("application/json");
  resp->mutable_body()->set_data("[{\"id\":1,\"name\":\"Alice\"}]");
  resp->mutable_body()->set_size(26);
  return event;
}

}  // namespace httptrace::render
