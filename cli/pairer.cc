#include "cli/pairer.h"

#include "absl/strings/str_cat.h"
#include "cli/render/text_util.h"

namespace httptrace::cli {
namespace {

// Two syscalls' times on one clock can still be taken in either order around a context switch.
constexpr int64_t kSlackUs = 1000;
constexpr size_t kMaxOneSided = 1 << 16;

bool SameEndpoint(const v1::Endpoint& a, const v1::Endpoint& b) {
  return a.port() == b.port() && a.address() == b.address();
}

int64_t Micros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

}  // namespace

std::string Pairer::Key(size_t source, const v1::Exchange& x, v1::Role role) {
  const v1::Connection& c = x.connection();
  const bool own_client = c.role() == v1::ROLE_CLIENT;
  const v1::Endpoint& client_end = own_client ? c.local() : c.remote();
  const v1::Endpoint& server_end = own_client ? c.remote() : c.local();
  return absl::StrCat(source, "|", role == v1::ROLE_CLIENT ? "c" : "s", "|", client_end.address(),
                      "|", client_end.port(), "|", server_end.address(), "|", server_end.port());
}

bool Pairer::Matches(const v1::Exchange& client, const v1::Exchange& server) {
  const v1::Connection& c = client.connection();
  const v1::Connection& s = server.connection();
  if (c.role() != v1::ROLE_CLIENT || s.role() != v1::ROLE_SERVER) return false;
  if (!SameEndpoint(c.local(), s.remote()) || !SameEndpoint(c.remote(), s.local())) return false;
  // HTTP/2: one stream is one exchange, and both ends number it alike.
  if (client.stream_id() != 0 && server.stream_id() != 0 &&
      client.stream_id() != server.stream_id()) {
    return false;
  }
  if (client.has_request() && server.has_request() &&
      (client.request().method() != server.request().method() ||
       client.request().target() != server.request().target())) {
    return false;
  }
  const int64_t client_start = Micros(client.start_time());
  const int64_t server_start = Micros(server.start_time());
  if (server_start < client_start - kSlackUs) return false;
  if (client.has_latency() &&
      server_start > client_start + render::ToMicros(client.latency()) + kSlackUs) {
    return false;
  }
  return true;
}

std::string Pairer::PairId(const v1::Exchange& client, const v1::Exchange& server) {
  return absl::StrCat(client.connection().id(), "-", server.connection().id(), "-",
                      Micros(client.start_time()));
}

void Pairer::Push(size_t source, EventPtr event, absl::Time now) {
  // The order is taken only by records that join the queue (a partner found is absorbed), so
  // queue_[i].order == queue_.front().order + i holds.
  Entry entry{0, source, std::move(event), nullptr, absl::InfinitePast(), ""};
  const v1::Event& e = *entry.event;
  const v1::Role role = e.has_exchange() ? e.exchange().connection().role() : v1::ROLE_UNSPECIFIED;
  if (!options_.enabled || (role != v1::ROLE_CLIENT && role != v1::ROLE_SERVER) ||
      one_sided_.contains({source, e.exchange().connection().id()})) {
    entry.order = next_order_++;
    queue_.push_back(std::move(entry));
    return;
  }
  const v1::Exchange& x = e.exchange();
  const v1::Role other = role == v1::ROLE_CLIENT ? v1::ROLE_SERVER : v1::ROLE_CLIENT;
  auto it = waiting_.find(Key(source, x, other));
  if (it != waiting_.end()) {
    std::deque<uint64_t>& orders = it->second;
    for (auto o = orders.begin(); o != orders.end(); ++o) {
      Entry& held = queue_[*o - queue_.front().order];
      const v1::Exchange& y = held.event->exchange();
      const bool match = role == v1::ROLE_CLIENT ? Matches(x, y) : Matches(y, x);
      if (!match) continue;
      held.partner = std::move(entry.event);
      held.deadline = absl::InfinitePast();
      held.key.clear();
      orders.erase(o);
      if (orders.empty()) waiting_.erase(it);
      return;
    }
  }
  entry.order = next_order_++;
  entry.key = Key(source, x, role);
  entry.deadline = now + options_.window;
  waiting_[entry.key].push_back(entry.order);
  queue_.push_back(std::move(entry));
}

void Pairer::Release(Entry& entry, std::vector<Item>* out) {
  if (!entry.key.empty()) {  // went out alone
    auto it = waiting_.find(entry.key);
    if (it != waiting_.end()) {
      std::deque<uint64_t>& orders = it->second;
      for (auto o = orders.begin(); o != orders.end(); ++o) {
        if (*o == entry.order) {
          orders.erase(o);
          break;
        }
      }
      if (orders.empty()) waiting_.erase(it);
    }
    if (one_sided_.size() >= kMaxOneSided) one_sided_.clear();
    one_sided_.insert({entry.source, entry.event->exchange().connection().id()});
  }
  Item item;
  item.source = entry.source;
  if (entry.partner != nullptr) {
    const bool held_is_client = entry.event->exchange().connection().role() == v1::ROLE_CLIENT;
    item.event = held_is_client ? std::move(entry.event) : std::move(entry.partner);
    item.partner = held_is_client ? std::move(entry.partner) : std::move(entry.event);
    item.pair_id = PairId(item.event->exchange(), item.partner->exchange());
  } else {
    item.event = std::move(entry.event);
  }
  out->push_back(std::move(item));
}

void Pairer::PopReady(absl::Time now, std::vector<Item>* out) {
  while (!queue_.empty()) {
    Entry& front = queue_.front();
    if (front.deadline > now && queue_.size() <= options_.max_held) break;
    Release(front, out);
    queue_.pop_front();
  }
}

void Pairer::PopAll(std::vector<Item>* out) {
  while (!queue_.empty()) {
    Release(queue_.front(), out);
    queue_.pop_front();
  }
}

absl::Time Pairer::NextDeadline() const {
  return queue_.empty() ? absl::InfiniteFuture() : queue_.front().deadline;
}

}  // namespace httptrace::cli
