#include "agent/session/session.h"

#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

v1::CaptureOptions Options(uint32_t queue_capacity = 8) {
  v1::CaptureOptions options;
  options.set_queue_capacity(queue_capacity);
  return *NormalizeOptions(options, SessionDefaults());
}

// An exchange event as the pipeline publishes it (seq 0, shared).
v1::Event Exchange(const std::string& target, const std::string& body = "") {
  v1::Event event;
  v1::Exchange& exchange = *event.mutable_exchange();
  exchange.mutable_request()->set_method("GET");
  exchange.mutable_request()->set_target(target);
  exchange.mutable_request()->mutable_body()->set_data(body);
  exchange.mutable_request()->mutable_body()->set_size(body.size());
  v1::Header* auth = exchange.mutable_request()->add_headers();
  auth->set_name("authorization");
  auth->set_value("Bearer secret");
  v1::Header* host = exchange.mutable_request()->add_headers();
  host->set_name("Host");
  host->set_value("x");
  v1::Header* cookie = exchange.mutable_response()->add_headers();
  cookie->set_name("Set-Cookie");
  cookie->set_value("id=1");
  v1::Header* proxy = exchange.mutable_request()->add_trailers();
  proxy->set_name("PROXY-AUTHORIZATION");
  proxy->set_value("Basic x");
  v1::Header* trailer_cookie = exchange.mutable_response()->add_trailers();
  trailer_cookie->set_name("cookie");
  trailer_cookie->set_value("a=b");
  return event;
}

// Offers `event` as the pipeline publishes it.
bool Offer(Session& session, const v1::Event& event, bool* matched = nullptr) {
  return session.OfferExchange(PublishedEvent(event), matched);
}

std::vector<uint64_t> Seqs(const Session::ReadResult& result) {
  std::vector<uint64_t> seqs;
  for (const auto& e : result.events) seqs.push_back(e.seq);
  return seqs;
}

TEST(Session, SequenceNumbersStartAtOneWithoutHoles) {
  Session session("s", v1::Filter(), Options(), kStart);
  for (int i = 0; i < 3; ++i) Offer(session, Exchange("/" + std::to_string(i)));
  uint64_t next = 0;
  auto result = session.Read(&next, 100, absl::ZeroDuration());
  EXPECT_EQ(Seqs(result), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(WithSeq(result.events[2]).exchange().request().target(), "/2");
  EXPECT_EQ(next, 4u);
}

TEST(Session, DefaultRedactionHidesSecretsCaseInsensitively) {
  Session session("s", v1::Filter(), Options(), kStart);
  Offer(session, Exchange("/"));
  uint64_t next = 0;
  const v1::Exchange got =
      WithSeq(session.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange();
  EXPECT_EQ(got.request().headers(0).value(), "[REDACTED]");
  EXPECT_TRUE(got.request().headers(0).redacted());
  EXPECT_EQ(got.request().headers(1).value(), "x");
  EXPECT_EQ(got.response().headers(0).value(), "[REDACTED]");
  EXPECT_EQ(got.request().trailers(0).value(), "[REDACTED]");
  EXPECT_EQ(got.response().trailers(0).value(), "[REDACTED]");
  EXPECT_FALSE(got.request().headers(1).redacted());
}

// An exchange whose request was not captured keeps having none: redaction and body trimming
// must not create an empty request (rendered as an empty request line, "request":{} in jsonl).
TEST(Session, ResponseWithoutRequestStaysWithoutRequest) {
  Session session("s", v1::Filter(), Options(), kStart);
  v1::Event orphan = Exchange("/");
  orphan.mutable_exchange()->clear_request();
  orphan.mutable_exchange()->add_notes("request not captured: capture began mid-connection");
  Offer(session, orphan);
  uint64_t next = 0;
  const v1::Exchange got =
      WithSeq(session.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange();
  EXPECT_FALSE(got.has_request());
  EXPECT_TRUE(got.has_response());
  EXPECT_EQ(got.response().headers(0).value(), "[REDACTED]");
}

TEST(Session, NoRedactKeepsValuesAndCustomListReplacesDefault) {
  v1::CaptureOptions keep;
  keep.set_no_redact(true);
  Session plain("s", v1::Filter(), *NormalizeOptions(keep, SessionDefaults()), kStart);
  Offer(plain, Exchange("/"));
  uint64_t next = 0;
  EXPECT_EQ(WithSeq(plain.Read(&next, 1, absl::ZeroDuration()).events[0])
                .exchange()
                .request()
                .headers(0)
                .value(),
            "Bearer secret");

  v1::CaptureOptions custom;
  custom.add_redact_headers("HOST");
  Session only_host("s", v1::Filter(), *NormalizeOptions(custom, SessionDefaults()), kStart);
  Offer(only_host, Exchange("/"));
  next = 0;
  const v1::Exchange got =
      WithSeq(only_host.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange();
  EXPECT_EQ(got.request().headers(0).value(), "Bearer secret");
  EXPECT_EQ(got.request().headers(1).value(), "[REDACTED]");
}

TEST(Session, BodyIsTrimmedToTheSessionLimitAndMarkedTruncated) {
  v1::CaptureOptions options;
  options.set_body_limit_bytes(4);
  Session session("s", v1::Filter(), *NormalizeOptions(options, SessionDefaults()), kStart);
  Offer(session, Exchange("/", "0123456789"));
  uint64_t next = 0;
  const v1::Body body =
      WithSeq(session.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange().request().body();
  EXPECT_EQ(body.data(), "0123");
  EXPECT_EQ(body.size(), 10u);
  EXPECT_TRUE(body.truncated());
}

TEST(Session, FullQueueOfUnreadEventsDropsNewExchangesAndMarksTheLoss) {
  Session session("s", v1::Filter(), Options(/*queue_capacity=*/3), kStart);
  for (int i = 0; i < 5; ++i) Offer(session, Exchange("/" + std::to_string(i)));
  uint64_t next = 0;
  auto first = session.Read(&next, 100, absl::ZeroDuration());
  EXPECT_EQ(Seqs(first), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(WithSeq(first.events[2]).exchange().request().target(), "/2");
  // Room now: the next exchange is preceded by the loss marker for the two dropped ones.
  Offer(session, Exchange("/5"));
  auto second = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_EQ(Seqs(second), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(WithSeq(second.events[0]).loss().reason(), v1::LOSS_REASON_SLOW_READER);
  EXPECT_EQ(WithSeq(second.events[0]).loss().exchanges(), 2u);
  EXPECT_EQ(WithSeq(second.events[1]).exchange().request().target(), "/5");
  const v1::SessionCounters counters = session.Info().counters();
  EXPECT_EQ(counters.exchanges(), 4u);
  EXPECT_EQ(counters.exchanges_lost(), 2u);
  EXPECT_EQ(counters.loss_events(), 1u);
}

TEST(Session, EndQueuesPendingLossThenEndEvenWhenFull) {
  Session session("s", v1::Filter(), Options(/*queue_capacity=*/2), kStart);
  for (int i = 0; i < 4; ++i) Offer(session, Exchange("/"));
  session.End(v1::END_REASON_STOPPED, "stopped", kStart + absl::Seconds(1));
  uint64_t next = 0;
  auto result = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_EQ(Seqs(result), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(WithSeq(result.events[2]).loss().exchanges(), 2u);
  EXPECT_EQ(WithSeq(result.events[3]).end().reason(), v1::END_REASON_STOPPED);
  EXPECT_EQ(WithSeq(result.events[3]).end().counters().exchanges(), 2u);
  EXPECT_TRUE(result.finished);
  EXPECT_FALSE(session.active());
  // Nothing is accepted after the end.
  Offer(session, Exchange("/late"));
  EXPECT_EQ(session.Info().counters().next_seq(), 5u);
}

TEST(Session, ResumeFromSequenceNumberAndGapWhenEvicted) {
  Session session("s", v1::Filter(), Options(/*queue_capacity=*/3), kStart);
  uint64_t reader = 0;
  for (int i = 0; i < 6; ++i) {
    Offer(session, Exchange("/" + std::to_string(i)));
    session.Read(&reader, 100, absl::ZeroDuration());  // a reader keeps up: room for new events
  }
  // Seqs 4..6 are retained. Resuming at 5 gives 5, 6.
  uint64_t resume = 5;
  EXPECT_EQ(Seqs(session.Read(&resume, 100, absl::ZeroDuration())), (std::vector<uint64_t>{5, 6}));
  // Resuming at 2 first says that 2..3 are gone.
  uint64_t old = 2;
  auto result = session.Read(&old, 100, absl::ZeroDuration());
  ASSERT_EQ(Seqs(result), (std::vector<uint64_t>{0, 4, 5, 6}));
  EXPECT_EQ(WithSeq(result.events[0]).loss().reason(), v1::LOSS_REASON_RESUME_GAP);
  EXPECT_EQ(WithSeq(result.events[0]).loss().events(), 2u);
  EXPECT_TRUE(session.CheckResumePoint(7).ok());
  EXPECT_EQ(session.CheckResumePoint(8).code(), absl::StatusCode::kOutOfRange);
}

TEST(Session, UnreadLossesOfOneReasonMergeInsteadOfGrowingTheQueue) {
  Session session("s", v1::Filter(), Options(/*queue_capacity=*/2), kStart);
  v1::Loss loss;
  loss.set_reason(v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  loss.set_bytes(10);
  for (int i = 0; i < 1000; ++i) session.OfferLoss(loss);
  uint64_t next = 0;
  auto result = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(WithSeq(result.events[0]).loss().bytes(), 10000u);
  // Once read, the next loss is a new marker.
  session.OfferLoss(loss);
  EXPECT_EQ(session.Read(&next, 100, absl::ZeroDuration()).events.size(), 1u);
  EXPECT_EQ(session.Info().counters().bytes_lost(), 10010u);
}

TEST(Session, ReadWaitsForTheNextEvent) {
  Session session("s", v1::Filter(), Options(), kStart);
  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    Offer(session, Exchange("/later"));
  });
  uint64_t next = 0;
  auto result = session.Read(&next, 10, absl::Seconds(10));
  producer.join();
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(WithSeq(result.events[0]).exchange().request().target(), "/later");
}

TEST(Session, DueToEndAfterMaxDurationOrIdleTimeout) {
  v1::CaptureOptions options;
  options.mutable_max_duration()->set_seconds(60);
  options.mutable_idle_timeout()->set_seconds(30);
  Session session("s", v1::Filter(), *NormalizeOptions(options, SessionDefaults()), kStart);
  session.AddReader();
  EXPECT_FALSE(session.DueToEnd(kStart + absl::Seconds(45)).has_value());
  EXPECT_EQ(session.DueToEnd(kStart + absl::Seconds(60)), v1::END_REASON_MAX_DURATION);
  session.RemoveReader(kStart + absl::Seconds(10));
  EXPECT_FALSE(session.DueToEnd(kStart + absl::Seconds(39)).has_value());
  EXPECT_EQ(session.DueToEnd(kStart + absl::Seconds(40)), v1::END_REASON_IDLE_TIMEOUT);
}

TEST(Session, MaxExchangesIsReportedToTheCaller) {
  v1::CaptureOptions options;
  options.set_max_exchanges(2);
  Session session("s", v1::Filter(), *NormalizeOptions(options, SessionDefaults()), kStart);
  EXPECT_FALSE(Offer(session, Exchange("/a")));
  EXPECT_TRUE(Offer(session, Exchange("/b")));
}

// Options under which a session keeps exchanges as published (no redaction, 4 KiB bodies).
v1::CaptureOptions KeepWhole(uint32_t queue_capacity = 8) {
  v1::CaptureOptions options;
  options.set_queue_capacity(queue_capacity);
  options.set_no_redact(true);
  return *NormalizeOptions(options, SessionDefaults());
}

TEST(Session, AnExchangeKeptWholeIsSharedNotCopied) {
  Session session("s", v1::Filter(), KeepWhole(), kStart);
  const v1::Event event = Exchange("/shared", "small body");
  const PublishedEvent published(event);
  session.OfferExchange(published);
  uint64_t next = 0;
  const auto result = session.Read(&next, 10, absl::ZeroDuration());
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].event.get(), published.Shared().get());  // the publish's bytes
  EXPECT_EQ(result.events[0].seq, 1u);
  EXPECT_EQ(WithSeq({0, published.Shared()}).seq(), 0u);
}

TEST(Session, MemoryBudgetChargesWhatAnEventHoldsNotItsWireSize) {
  // Found by test/stress: 4096 queued events were charged 1.7 MB while they held 27 MB.
  MemoryBudget budget(1 << 20);
  Session session("s", v1::Filter(), KeepWhole(/*queue_capacity=*/100), kStart, &budget);
  const v1::Event event = Exchange("/x");
  const PublishedEvent published(event);
  session.OfferExchange(published);
  EXPECT_EQ(budget.used(), HeldBytes(*published.Shared()));
  EXPECT_GT(budget.used(), event.ByteSizeLong());
}

TEST(Session, MemoryBudgetRefusalsAreCountedAndMarkedAsLimitLosses) {
  const size_t one = HeldBytes(*Serialize(Exchange("/x")));
  MemoryBudget budget(one * 3 + one / 2);  // room for three exchanges
  Session session("s", v1::Filter(), KeepWhole(/*queue_capacity=*/100), kStart, &budget);
  for (int i = 0; i < 5; ++i) Offer(session, Exchange("/x"));
  EXPECT_EQ(budget.refused_charges(), 2u);
  EXPECT_EQ(session.Info().counters().exchanges(), 3u);
  EXPECT_EQ(session.Info().counters().exchanges_lost(), 2u);
  session.End(v1::END_REASON_STOPPED, "", kStart);
  uint64_t next = 0;
  const auto result = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_EQ(result.events.size(), 5u);  // three exchanges, the LIMIT marker, the end
  EXPECT_EQ(WithSeq(result.events[3]).loss().reason(), v1::LOSS_REASON_LIMIT);
  EXPECT_EQ(WithSeq(result.events[3]).loss().exchanges(), 2u);
  EXPECT_EQ(WithSeq(result.events[4]).end().counters().exchanges_lost(), 2u);
  EXPECT_LE(budget.used(), budget.peak());
}

TEST(Session, BudgetIsReleasedAsReadersMakeRoomAndWhenTheSessionGoes) {
  const size_t one = HeldBytes(*Serialize(Exchange("/x")));
  MemoryBudget budget(one * 2 + one / 2);
  {
    Session session("s", v1::Filter(), KeepWhole(/*queue_capacity=*/2), kStart, &budget);
    Offer(session, Exchange("/x"));
    Offer(session, Exchange("/x"));
    uint64_t next = 0;
    session.Read(&next, 10, absl::ZeroDuration());  // delivered: may be evicted for new ones
    Offer(session, Exchange("/x"));
    Offer(session, Exchange("/x"));
    EXPECT_EQ(budget.refused_charges(), 0u);
    EXPECT_EQ(session.Info().counters().exchanges(), 4u);
    EXPECT_GT(budget.used(), 0u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

// An exchange with a secret in every place redaction looks: the target, HTTP/2's :path, an
// OAuth redirect's Location, a JSON request body and a form response body.
v1::Event ExchangeWithSecrets(const std::string& secret) {
  v1::Event event;
  v1::Exchange& exchange = *event.mutable_exchange();
  v1::HttpRequest& request = *exchange.mutable_request();
  request.set_method("POST");
  request.set_target("/login?access_token=" + secret + "&next=%2Fhome");
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {":path", request.target()},
           {"Content-Type", "application/json"},
           {"Referer", "http://h/p?ticket=" + secret}}) {
    v1::Header* header = request.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  const std::string body = R"({"user":"bob","credentials":{"password":")" + secret + R"("}})";
  request.mutable_body()->set_data(body);
  request.mutable_body()->set_size(body.size());
  v1::HttpResponse& response = *exchange.mutable_response();
  response.set_status(302);
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"Location", "https://app/cb?code=" + secret + "&state=s1"},
           {"content-type", "application/x-www-form-urlencoded"}}) {
    v1::Header* header = response.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  const std::string form = "ssn=" + secret + "&refresh_token=" + secret + "&ok=1";
  response.mutable_body()->set_data(form);
  response.mutable_body()->set_size(form.size());
  return event;
}

// Every byte the session's queue holds, as a reader would receive it.
std::string QueuedBytes(Session& session) {
  uint64_t next = 0;
  std::string all;
  for (const SequencedEvent& e : session.Read(&next, 100, absl::ZeroDuration()).events) {
    all += e.event->bytes;
  }
  return all;
}

TEST(Session, QueueNeverHoldsSecretParametersOrBodyFields) {
  const std::string secret = "S3CRET-e2f1";
  v1::CaptureOptions options;
  options.add_redact_params("ticket");
  options.add_redact_body_fields("SSN");
  Session session("s", v1::Filter(), *NormalizeOptions(options, SessionDefaults()), kStart);
  const v1::Event published = ExchangeWithSecrets(secret);
  Offer(session, published);
  const std::string queued = QueuedBytes(session);
  ASSERT_FALSE(queued.empty());
  EXPECT_EQ(queued.find(secret), std::string::npos) << queued;

  uint64_t next = 0;
  const v1::Exchange got =
      WithSeq(session.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange();
  EXPECT_EQ(got.request().target(), "/login?access_token=[REDACTED]&next=%2Fhome");
  EXPECT_EQ(got.request().headers(0).value(), "/login?access_token=[REDACTED]&next=%2Fhome");
  EXPECT_EQ(got.request().headers(2).value(), "http://h/p?ticket=[REDACTED]");
  EXPECT_EQ(got.request().body().data(),
            R"({"user":"bob","credentials":{"password":"[REDACTED]"}})");
  EXPECT_EQ(got.response().headers(0).value(), "https://app/cb?code=[REDACTED]&state=s1");
  EXPECT_EQ(got.response().body().data(), "ssn=[REDACTED]&refresh_token=[REDACTED]&ok=1");
  // The true sizes stay what was sent.
  EXPECT_EQ(got.request().body().size(), published.exchange().request().body().size());
  // The published exchange, shared with other sessions, is untouched.
  EXPECT_NE(published.SerializeAsString().find(secret), std::string::npos);
}

TEST(Session, NoRedactKeepsParametersAndBodyFieldsAsSent) {
  const std::string secret = "S3CRET-e2f1";
  Session session("s", v1::Filter(), KeepWhole(), kStart);
  const v1::Event event = ExchangeWithSecrets(secret);
  const PublishedEvent published(event);
  session.OfferExchange(published);
  uint64_t next = 0;
  const auto result = session.Read(&next, 1, absl::ZeroDuration());
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].event.get(), published.Shared().get());
}

TEST(Session, AnExchangeWithoutSecretsIsSharedUnderDefaultRedaction) {
  Session session("s", v1::Filter(), Options(), kStart);
  v1::Event event;
  event.mutable_exchange()->mutable_request()->set_target("/users?id=1&code_page=2");
  v1::Header* type = event.mutable_exchange()->mutable_request()->add_headers();
  type->set_name("Content-Type");
  type->set_value("application/json");
  event.mutable_exchange()->mutable_request()->mutable_body()->set_data(R"({"code":404})");
  const PublishedEvent published(event);
  session.OfferExchange(published);
  uint64_t next = 0;
  EXPECT_EQ(session.Read(&next, 1, absl::ZeroDuration()).events[0].event.get(),
            published.Shared().get());
}

TEST(Session, BodyCutByTheSessionLimitIsRedactedAsFarAsItGoes) {
  v1::CaptureOptions options;
  options.set_body_limit_bytes(24);  // cuts inside the password's value
  Session session("s", v1::Filter(), *NormalizeOptions(options, SessionDefaults()), kStart);
  v1::Event event;
  v1::HttpRequest* request = event.mutable_exchange()->mutable_request();
  v1::Header* type = request->add_headers();
  type->set_name("Content-Type");
  type->set_value("application/json");
  const std::string body = R"({"a":1,"password":"hunter2hunter2"})";
  request->mutable_body()->set_data(body);
  request->mutable_body()->set_size(body.size());
  Offer(session, event);
  uint64_t next = 0;
  const v1::Body got =
      WithSeq(session.Read(&next, 1, absl::ZeroDuration()).events[0]).exchange().request().body();
  EXPECT_EQ(got.data(), R"({"a":1,"password":"[REDACTED]")");
  EXPECT_TRUE(got.truncated());
  EXPECT_EQ(got.size(), body.size());
}

TEST(NormalizeOptions, RedactParamsAndBodyFieldsAreCheckedAndExcludeNoRedact) {
  v1::CaptureOptions both;
  both.set_no_redact(true);
  both.add_redact_params("ticket");
  EXPECT_EQ(NormalizeOptions(both, SessionDefaults()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::CaptureOptions both_fields;
  both_fields.set_no_redact(true);
  both_fields.add_redact_body_fields("ssn");
  EXPECT_FALSE(NormalizeOptions(both_fields, SessionDefaults()).ok());
  v1::CaptureOptions empty;
  empty.add_redact_params("_-");
  EXPECT_THAT(std::string(NormalizeOptions(empty, SessionDefaults()).status().message()),
              ::testing::HasSubstr("redact_params"));
  v1::CaptureOptions many;
  for (int i = 0; i < 65; ++i) many.add_redact_body_fields("f" + std::to_string(i));
  EXPECT_FALSE(NormalizeOptions(many, SessionDefaults()).ok());
  v1::CaptureOptions fine;
  fine.add_redact_params("ticket");
  fine.add_redact_body_fields("ssn");
  EXPECT_TRUE(NormalizeOptions(fine, SessionDefaults()).ok());
}

TEST(NormalizeOptions, FillsDefaultsAndRejectsNonsense) {
  const v1::CaptureOptions defaults = *NormalizeOptions(v1::CaptureOptions(), SessionDefaults());
  EXPECT_EQ(defaults.body_limit_bytes(), 4096u);
  EXPECT_EQ(defaults.redact_headers_size(), 4);
  EXPECT_EQ(defaults.queue_capacity(), 4096u);
  EXPECT_EQ(defaults.idle_timeout().seconds(), 600);

  v1::CaptureOptions both;
  both.set_no_redact(true);
  both.add_redact_headers("X-Token");
  EXPECT_EQ(NormalizeOptions(both, SessionDefaults()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::CaptureOptions bad_name;
  bad_name.add_redact_headers("X Token");
  EXPECT_FALSE(NormalizeOptions(bad_name, SessionDefaults()).ok());
  v1::CaptureOptions huge;
  huge.set_queue_capacity(1u << 30);
  EXPECT_FALSE(NormalizeOptions(huge, SessionDefaults()).ok());
  v1::CaptureOptions negative;
  negative.mutable_max_duration()->set_seconds(-1);
  EXPECT_FALSE(NormalizeOptions(negative, SessionDefaults()).ok());
}

TEST(Session, ConnectionsNotTracedAreCountedPerPortBoundedAndInTheEnd) {
  Session session("s", v1::Filter(), Options(), kStart);
  // Three connections to 50051 seen from both ends, one to 5432 from its client only.
  for (int i = 0; i < 3; ++i) {
    session.CountNotTraced(50051, /*server=*/true);
    session.CountNotTraced(50051, /*server=*/false);
  }
  session.CountNotTraced(5432, /*server=*/false);
  v1::SessionInfo info = session.Info();
  ASSERT_EQ(info.notes_size(), 2);
  EXPECT_EQ(info.notes(0),
            "3 connection(s) on port 50051 not traced: not HTTP/1.x or HTTP/2 (3 server end(s), "
            "3 client end(s) seen)");
  EXPECT_EQ(info.notes(1),
            "1 connection(s) on port 5432 not traced: not HTTP/1.x or HTTP/2 (0 server end(s), "
            "1 client end(s) seen)");
  // Beyond kMaxNotTracedPorts ports, the rest are summed.
  for (uint16_t port = 1; port <= Session::kMaxNotTracedPorts + 2; ++port) {
    session.CountNotTraced(port, /*server=*/true);
  }
  info = session.Info();
  ASSERT_EQ(info.notes_size(), static_cast<int>(Session::kMaxNotTracedPorts) + 1);
  EXPECT_EQ(info.notes(static_cast<int>(Session::kMaxNotTracedPorts)),
            "4 connection(s) on other ports not traced: not HTTP/1.x or HTTP/2 (4 server end(s), "
            "0 client end(s) seen)");
  session.End(v1::END_REASON_STOPPED, "stopped", kStart + absl::Seconds(1));
  uint64_t next = 0;
  auto result = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_FALSE(result.events.empty());
  const v1::Event end = WithSeq(result.events.back());
  ASSERT_TRUE(end.has_end());
  EXPECT_EQ(end.end().notes(0), info.notes(0));
}

TEST(Session, NotesAreDeduplicatedBoundedAndInTheEnd) {
  Session session("s", v1::Filter(), Options(), kStart);
  session.AddNotes({"tls not probed (no_symbol): /a", "tls not probed (no_symbol): /a"});
  session.AddNotes({"tls not probed (no_symbol): /a", "tls not probed (unreadable): /b"});
  v1::SessionInfo info = session.Info();
  ASSERT_EQ(info.notes_size(), 2);
  EXPECT_EQ(info.notes(0), "tls not probed (no_symbol): /a");
  EXPECT_EQ(info.notes(1), "tls not probed (unreadable): /b");

  std::vector<std::string> many;
  for (size_t i = 0; i < Session::kMaxNotes + 3; ++i) many.push_back("n" + std::to_string(i));
  session.AddNotes(many);
  session.AddNotes(many);  // the same list again: not counted twice
  info = session.Info();
  ASSERT_EQ(info.notes_size(), static_cast<int>(Session::kMaxNotes) + 1);
  // Two kept before, kMaxNotes - 2 of `many`, the other 5 counted.
  EXPECT_EQ(info.notes(static_cast<int>(Session::kMaxNotes)), "and 5 more note(s) not kept");

  session.End(v1::END_REASON_STOPPED, "stopped", kStart + absl::Seconds(1));
  session.AddNotes({"after the end"});
  uint64_t next = 0;
  auto result = session.Read(&next, 100, absl::ZeroDuration());
  ASSERT_FALSE(result.events.empty());
  const v1::Event end = WithSeq(result.events.back());
  ASSERT_TRUE(end.has_end());
  EXPECT_EQ(end.end().notes_size(), static_cast<int>(Session::kMaxNotes) + 1);
  EXPECT_EQ(end.end().notes(0), "tls not probed (no_symbol): /a");
  EXPECT_EQ(session.Info().notes_size(), static_cast<int>(Session::kMaxNotes) + 1);
}

}  // namespace
}  // namespace httptrace::session
