// Finds the two records of one exchange seen from both ends, so the trace shows it once.
//
// When the client and the server of a connection both run on a traced node, the agent records
// the exchange twice: once per process (its contract: one record per side). The rule that makes
// them one: the same agent (node), one record with role client and one with role server, the
// client's local address is the server's remote address and the other way round, the same
// method and target when both saw the request, and the server's request began within the
// client's exchange (both times come from the node's one clock). On a keep-alive connection the
// exchanges follow each other, so this picks exactly one partner.
//
// Records are released in the order they arrived. An exchange that may still get a partner is
// held for at most `window` (the other end's record comes from the same agent a moment later);
// records behind it wait too, so the order stays. An exchange whose window passes goes out
// alone, and its connection is then known to be traced at one end only: its later exchanges go
// out at once. Not thread-safe.

#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "cli/event_merger.h"

namespace httptrace::cli {

class Pairer {
 public:
  struct Options {
    // False: every record goes out at once, on its own (--role both-sides, client, server).
    bool enabled = true;
    absl::Duration window = absl::Milliseconds(300);
    // Records held at most; beyond it the oldest go out early, alone.
    size_t max_held = 65536;
  };
  struct Item {
    size_t source = 0;
    EventPtr event;    // a pair: the client's record
    EventPtr partner;  // a pair: the server's record; else null
    std::string pair_id;
  };

  explicit Pairer(Options options) : options_(options) {}

  void Push(size_t source, EventPtr event, absl::Time now);
  // Appends to `out` every record that may go out at `now`, in arrival order.
  void PopReady(absl::Time now, std::vector<Item>* out);
  void PopAll(std::vector<Item>* out);
  // When the oldest held record's window ends; InfiniteFuture when nothing waits.
  absl::Time NextDeadline() const;
  size_t held() const { return queue_.size(); }

  // "CLIENTCONN-SERVERCONN-MICROS": the same for both records of a pair however often a
  // session is read.
  static std::string PairId(const v1::Exchange& client, const v1::Exchange& server);
  // True when `server` is the other end of `client`'s exchange (the rule above; roles and
  // addresses included).
  static bool Matches(const v1::Exchange& client, const v1::Exchange& server);

 private:
  struct Entry {
    uint64_t order;
    size_t source;
    EventPtr event;
    EventPtr partner;
    absl::Time deadline;  // InfinitePast: ready now
    std::string key;      // set while it waits for a partner
  };
  // The connection as both ends name it (client end, server end), tagged with `role`: a
  // record's own role to wait, the other role to look for its partner.
  static std::string Key(size_t source, const v1::Exchange& x, v1::Role role);
  void Release(Entry& entry, std::vector<Item>* out);

  Options options_;
  uint64_t next_order_ = 0;
  std::deque<Entry> queue_;  // queue_[i].order == queue_.front().order + i
  // Waiting records by Key (with their own role): the orders, oldest first.
  absl::flat_hash_map<std::string, std::deque<uint64_t>> waiting_;
  // (source, connection id) of connections seen from one end only; cleared when it grows large.
  absl::flat_hash_set<std::pair<size_t, uint64_t>> one_sided_;
};

}  // namespace httptrace::cli
