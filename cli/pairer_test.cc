#include "cli/pairer.h"

#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

constexpr int64_t kBase = 1'800'000'000;

// One end's record of GET `target` on 127.0.0.1:51234 → 127.0.0.1:8080, starting `start_us`
// after kBase and lasting `latency_us`.
EventPtr Record(v1::Role role, const std::string& target, int64_t start_us, int64_t latency_us,
                uint64_t connection_id, uint64_t seq, uint32_t client_port = 51234) {
  v1::Event event;
  event.set_seq(seq);
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_start_time()->set_seconds(kBase + start_us / 1'000'000);
  x->mutable_start_time()->set_nanos(static_cast<int32_t>(start_us % 1'000'000) * 1000);
  x->mutable_latency()->set_seconds(latency_us / 1'000'000);
  x->mutable_latency()->set_nanos(static_cast<int32_t>(latency_us % 1'000'000) * 1000);
  v1::Connection* c = x->mutable_connection();
  c->set_role(role);
  c->set_id(connection_id);
  v1::Endpoint client_end, server_end;
  client_end.set_address("127.0.0.1");
  client_end.set_port(client_port);
  server_end.set_address("127.0.0.1");
  server_end.set_port(8080);
  *c->mutable_local() = role == v1::ROLE_CLIENT ? client_end : server_end;
  *c->mutable_remote() = role == v1::ROLE_CLIENT ? server_end : client_end;
  x->mutable_request()->set_method("GET");
  x->mutable_request()->set_target(target);
  x->mutable_response()->set_status(200);
  return std::make_shared<const v1::Event>(std::move(event));
}

EventPtr Loss(uint64_t seq) {
  v1::Event event;
  event.set_seq(seq);
  event.mutable_loss()->set_exchanges(1);
  return std::make_shared<const v1::Event>(std::move(event));
}

const absl::Time kNow = absl::FromUnixSeconds(kBase);
constexpr absl::Duration kWindow = absl::Milliseconds(300);

TEST(Pairer, BothEndsOfOneExchangeComeOutOnceAsAPairWhicheverArrivesFirst) {
  for (bool server_first : {true, false}) {
    Pairer pairer({});
    EventPtr client = Record(v1::ROLE_CLIENT, "/users", 0, 1200, 7, 1);
    EventPtr server = Record(v1::ROLE_SERVER, "/users", 100, 900, 8, 2);
    pairer.Push(0, server_first ? server : client, kNow);
    pairer.Push(0, server_first ? client : server, kNow);
    std::vector<Pairer::Item> out;
    pairer.PopReady(kNow, &out);
    ASSERT_EQ(out.size(), 1u) << "server first: " << server_first;
    EXPECT_EQ(out[0].event, client);
    EXPECT_EQ(out[0].partner, server);
    EXPECT_EQ(out[0].pair_id, "7-8-" + std::to_string(kBase * 1'000'000));
    EXPECT_EQ(pairer.held(), 0u);
  }
}

TEST(Pairer, OneEndOnlyGoesOutAloneWhenItsWindowEndsAndItsConnectionNoLongerWaits) {
  Pairer pairer({});
  pairer.Push(0, Record(v1::ROLE_SERVER, "/a", 0, 900, 8, 1), kNow);
  std::vector<Pairer::Item> out;
  pairer.PopReady(kNow + kWindow - absl::Milliseconds(1), &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(pairer.NextDeadline(), kNow + kWindow);
  pairer.PopReady(kNow + kWindow, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].partner, nullptr);
  EXPECT_TRUE(out[0].pair_id.empty());
  // The same connection's next exchange is not held: its client is not traced.
  out.clear();
  pairer.Push(0, Record(v1::ROLE_SERVER, "/b", 5000, 900, 8, 2), kNow + kWindow);
  pairer.PopReady(kNow + kWindow, &out);
  EXPECT_EQ(out.size(), 1u);
}

TEST(Pairer, KeepAliveExchangesPairWithTheirOwnPartnerNotTheNeighbour) {
  Pairer pairer({});
  // Two exchanges on one connection, each end's records in its own order.
  EventPtr c1 = Record(v1::ROLE_CLIENT, "/x", 0, 1000, 7, 1);
  EventPtr c2 = Record(v1::ROLE_CLIENT, "/x", 2000, 1000, 7, 2);
  EventPtr s2 = Record(v1::ROLE_SERVER, "/x", 2100, 800, 8, 3);
  EventPtr s1 = Record(v1::ROLE_SERVER, "/x", 100, 800, 8, 4);
  for (const EventPtr& e : {c1, c2, s2, s1}) pairer.Push(0, e, kNow);
  std::vector<Pairer::Item> out;
  pairer.PopReady(kNow, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].event, c1);
  EXPECT_EQ(out[0].partner, s1);
  EXPECT_EQ(out[1].event, c2);
  EXPECT_EQ(out[1].partner, s2);
}

// Found by top crashing: a partner absorbed took an order number of its own, so the queue's
// index arithmetic pointed past its end for every later lookup.
TEST(Pairer, ManyPairsInARowEachFindTheirPartner) {
  Pairer pairer({});
  std::vector<Pairer::Item> out;
  for (uint64_t i = 0; i < 50; ++i) {
    const int64_t start = static_cast<int64_t>(i) * 10000;
    const uint32_t port = static_cast<uint32_t>(40000 + i % 3);
    // A record that waits behind, from a connection with one end only, now and then.
    if (i % 7 == 0)
      pairer.Push(0, Record(v1::ROLE_SERVER, "/alone", start, 10, 900 + i, 0, 9), kNow);
    pairer.Push(0, Record(v1::ROLE_CLIENT, "/x", start, 1000, 100 + i % 3, 2 * i + 1, port), kNow);
    pairer.Push(0, Record(v1::ROLE_SERVER, "/x", start + 100, 800, 200 + i % 3, 2 * i + 2, port),
                kNow);
    pairer.PopReady(kNow, &out);
  }
  pairer.PopAll(&out);
  size_t pairs = 0;
  for (const Pairer::Item& item : out) {
    if (item.partner == nullptr) continue;
    ++pairs;
    EXPECT_EQ(item.event->seq() + 1, item.partner->seq());
  }
  EXPECT_EQ(pairs, 50u);
  EXPECT_EQ(out.size(), 50u + 8u);
}

TEST(Pairer, DifferentTargetsPortsOrAgentsAreNotPartners) {
  Pairer pairer({});
  pairer.Push(0, Record(v1::ROLE_CLIENT, "/a", 0, 1000, 7, 1), kNow);
  pairer.Push(0, Record(v1::ROLE_SERVER, "/b", 100, 800, 8, 2), kNow);         // other target
  pairer.Push(0, Record(v1::ROLE_SERVER, "/a", 100, 800, 9, 3, 40000), kNow);  // other port
  pairer.Push(1, Record(v1::ROLE_SERVER, "/a", 100, 800, 8, 4), kNow);         // other agent
  pairer.Push(0, Record(v1::ROLE_SERVER, "/a", 5000, 800, 8, 5), kNow);        // after the client's
  std::vector<Pairer::Item> out;
  pairer.PopAll(&out);
  ASSERT_EQ(out.size(), 5u);
  for (const Pairer::Item& item : out) EXPECT_EQ(item.partner, nullptr);
}

TEST(Pairer, RecordsKeepTheirOrderBehindOneThatWaits) {
  Pairer pairer({});
  EventPtr client = Record(v1::ROLE_CLIENT, "/a", 0, 1000, 7, 1);
  EventPtr loss = Loss(2);
  EventPtr server = Record(v1::ROLE_SERVER, "/a", 100, 800, 8, 3);
  pairer.Push(0, client, kNow);
  pairer.Push(0, loss, kNow);
  std::vector<Pairer::Item> out;
  pairer.PopReady(kNow, &out);
  EXPECT_TRUE(out.empty()) << "the loss waits behind the exchange that waits";
  pairer.Push(0, server, kNow);
  pairer.PopReady(kNow, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].partner, server);
  EXPECT_EQ(out[1].event, loss);
}

TEST(Pairer, DisabledReleasesEveryRecordAtOnceAlone) {
  Pairer::Options options;
  options.enabled = false;
  Pairer pairer(options);
  pairer.Push(0, Record(v1::ROLE_CLIENT, "/a", 0, 1000, 7, 1), kNow);
  pairer.Push(0, Record(v1::ROLE_SERVER, "/a", 100, 800, 8, 2), kNow);
  std::vector<Pairer::Item> out;
  pairer.PopReady(kNow, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].partner, nullptr);
  EXPECT_EQ(out[1].partner, nullptr);
}

TEST(Pairer, BeyondMaxHeldTheOldestGoOutEarly) {
  Pairer::Options options;
  options.max_held = 2;
  Pairer pairer(options);
  for (uint64_t i = 0; i < 3; ++i) {
    pairer.Push(0,
                Record(v1::ROLE_SERVER, "/a", i * 10000, 800, 100 + i, i + 1,
                       static_cast<uint32_t>(40000 + i)),
                kNow);
  }
  std::vector<Pairer::Item> out;
  pairer.PopReady(kNow, &out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(pairer.held(), 2u);
}

}  // namespace
}  // namespace httptrace::cli
