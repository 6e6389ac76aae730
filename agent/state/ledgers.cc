#include "agent/state/ledgers.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace sluice::state {

uint64_t ReadLedger::Observe(const Update& u) {
  const Key key{u.workload_id, u.pid, u.dev, u.ino};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (u.bytes_read == 0 && u.bytes_mapped == 0) return 0;
    if (entries_.size() >= max_entries_) EvictOldest();
    Entry e;
    e.workload_id = u.workload_id;
    e.tree = u.tree;
    e.read = {u.path, u.file_class, u.bytes_read, u.bytes_mapped, u.pid, u.exe, u.time_ms};
    entries_.emplace(key, std::move(e));
    by_workload_[u.workload_id].insert(key);
    AddGrowth(u.workload_id, u.tree, u.file_class, u.bytes_read + u.bytes_mapped, u.time_ms);
    return u.bytes_read + u.bytes_mapped;
  }
  detect::SensitiveRead& r = it->second.read;
  // Totals only grow in the kernel; an older read of the map arriving late changes nothing.
  const uint64_t before = r.bytes();
  r.bytes_read = std::max(r.bytes_read, u.bytes_read);
  r.bytes_mapped = std::max(r.bytes_mapped, u.bytes_mapped);
  if (r.bytes() == before) return 0;
  r.last_read_ms = std::max(r.last_read_ms, u.time_ms);
  if (r.path.empty()) r.path = u.path;
  if (r.exe.empty()) r.exe = u.exe;
  if (it->second.tree == 0) it->second.tree = u.tree;  // lineage learnt since
  AddGrowth(u.workload_id, it->second.tree, r.file_class, r.bytes() - before, u.time_ms);
  return r.bytes() - before;
}

void ReadLedger::AddGrowth(uint32_t workload_id, uint32_t tree, const std::string& file_class,
                           uint64_t bytes, int64_t time_ms) {
  constexpr int64_t kRetentionMinutes = 24 * 60;
  const int64_t minute = time_ms / 60000;
  auto add = [&](Growth& g) {
    std::deque<Bucket>& buckets = g.classes[file_class];
    if (!buckets.empty() && buckets.back().minute >= minute) {
      buckets.back().bytes += bytes;  // same minute, or a late update
    } else {
      buckets.push_back({minute, bytes});
    }
    while (!buckets.empty() && buckets.front().minute < minute - kRetentionMinutes) {
      buckets.pop_front();
    }
    g.last_ms = std::max(g.last_ms, time_ms);
  };
  WorkloadGrowth& w = growth_[workload_id];
  add(w.all);
  if (!w.trees.contains(tree) && w.trees.size() >= kMaxTreesPerWorkload) {
    auto oldest = w.trees.begin();
    for (auto t = w.trees.begin(); t != w.trees.end(); ++t) {
      if (t->second.last_ms < oldest->second.last_ms) oldest = t;
    }
    w.trees.erase(oldest);
  }
  add(w.trees[tree]);
}

uint64_t ReadLedger::SumSince(const Growth& g, const std::vector<std::string>& classes,
                              int64_t since_minute) {
  uint64_t sum = 0;
  for (const auto& [cls, buckets] : g.classes) {
    if (!classes.empty() && std::find(classes.begin(), classes.end(), cls) == classes.end()) {
      continue;
    }
    for (auto it = buckets.rbegin(); it != buckets.rend() && it->minute >= since_minute; ++it) {
      sum += it->bytes;
    }
  }
  return sum;
}

uint64_t ReadLedger::GrowthSince(uint32_t workload_id, uint32_t tree,
                                 const std::vector<std::string>& classes,
                                 int64_t since_ms) const {
  auto w = growth_.find(workload_id);
  if (w == growth_.end()) return 0;
  const int64_t since_minute = since_ms >= 0 ? since_ms / 60000 : (since_ms - 59999) / 60000;
  if (tree == kAnyTree) return SumSince(w->second.all, classes, since_minute);
  uint64_t sum = 0;
  for (uint32_t t : {tree, 0u}) {
    if (auto g = w->second.trees.find(t); g != w->second.trees.end()) {
      sum += SumSince(g->second, classes, since_minute);
    }
  }
  return sum;
}

int64_t ReadLedger::LastReadMs(uint32_t workload_id, uint32_t tree) const {
  auto w = growth_.find(workload_id);
  if (w == growth_.end()) return INT64_MIN;
  if (tree == kAnyTree) return w->second.all.last_ms;
  int64_t last = INT64_MIN;
  for (uint32_t t : {tree, 0u}) {
    if (auto g = w->second.trees.find(t); g != w->second.trees.end()) {
      last = std::max(last, g->second.last_ms);
    }
  }
  return last;
}

std::vector<detect::SensitiveRead> ReadLedger::ForWorkload(uint32_t workload_id, uint32_t tree,
                                                           int64_t since_ms,
                                                           const std::vector<std::string>& classes,
                                                           size_t limit) const {
  std::vector<detect::SensitiveRead> out;
  auto keys = by_workload_.find(workload_id);
  if (keys == by_workload_.end() || LastReadMs(workload_id, tree) < since_ms || limit == 0) {
    return out;
  }
  // Chosen by pointer, copied once: a busy workload has thousands of entries and an alert shows
  // a few dozen files.
  std::vector<const detect::SensitiveRead*> picked;
  for (const Key& key : keys->second) {
    const Entry& e = entries_.at(key);
    const detect::SensitiveRead& r = e.read;
    if (r.last_read_ms < since_ms) continue;
    if (tree != kAnyTree && e.tree != tree && e.tree != 0) continue;
    if (!classes.empty() &&
        std::find(classes.begin(), classes.end(), r.file_class) == classes.end()) {
      continue;
    }
    picked.push_back(&r);
  }
  auto older = [](const detect::SensitiveRead* a, const detect::SensitiveRead* b) {
    return std::tie(a->last_read_ms, a->pid, a->path) < std::tie(b->last_read_ms, b->pid, b->path);
  };
  if (picked.size() > limit) {
    std::nth_element(picked.begin(), picked.end() - static_cast<ptrdiff_t>(limit), picked.end(),
                     older);
    picked.erase(picked.begin(), picked.end() - static_cast<ptrdiff_t>(limit));
  }
  std::sort(picked.begin(), picked.end(), older);
  out.reserve(picked.size());
  for (const detect::SensitiveRead* r : picked) out.push_back(*r);
  return out;
}

std::vector<detect::SensitiveRead> ReadLedger::ForProcess(uint32_t pid) const {
  std::vector<detect::SensitiveRead> out;
  for (const auto& [key, e] : entries_) {
    if (key.pid == pid) out.push_back(e.read);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.last_read_ms, a.path) < std::tie(b.last_read_ms, b.path);
  });
  return out;
}

void ReadLedger::Expire(int64_t before_ms) {
  absl::erase_if(entries_, [&](const auto& kv) {
    if (kv.second.read.last_read_ms >= before_ms) return false;
    by_workload_[kv.first.workload_id].erase(kv.first);
    return true;
  });
}

void ReadLedger::Renumber(const absl::flat_hash_map<uint32_t, uint32_t>& old_to_new) {
  absl::flat_hash_map<Key, Entry> entries;
  absl::flat_hash_map<uint32_t, absl::flat_hash_set<Key>> by_workload;
  for (auto& [key, e] : entries_) {
    auto to = old_to_new.find(key.workload_id);
    if (to == old_to_new.end()) continue;
    Key k = key;
    k.workload_id = to->second;
    e.workload_id = to->second;
    by_workload[k.workload_id].insert(k);
    entries.emplace(k, std::move(e));
  }
  decltype(growth_) growth;
  for (auto& [id, g] : growth_) {
    if (auto to = old_to_new.find(id); to != old_to_new.end()) growth[to->second] = std::move(g);
  }
  entries_ = std::move(entries);
  by_workload_ = std::move(by_workload);
  growth_ = std::move(growth);
}

void ReadLedger::EvictOldest() {
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (oldest == entries_.end() || it->second.read.last_read_ms < oldest->second.read.last_read_ms) {
      oldest = it;
    }
  }
  if (oldest != entries_.end()) {
    by_workload_[oldest->first.workload_id].erase(oldest->first);
    entries_.erase(oldest);
    ++evicted_;
  }
}

uint64_t VolumeLedger::Add(const std::string& key, uint64_t bytes, int64_t time_ms,
                           uint32_t window_s) {
  const int64_t minute = time_ms / 60000;
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) {
      // The key with the oldest last activity goes; its budget restarts if it comes back.
      auto oldest = keys_.begin();
      for (auto k = keys_.begin(); k != keys_.end(); ++k) {
        const int64_t last = k->second.empty() ? INT64_MIN : k->second.back().minute;
        const int64_t best = oldest->second.empty() ? INT64_MIN : oldest->second.back().minute;
        if (last < best) oldest = k;
      }
      keys_.erase(oldest);
    }
    it = keys_.emplace(key, std::deque<Bucket>{}).first;
  }
  std::deque<Bucket>& buckets = it->second;
  if (!buckets.empty() && buckets.back().minute >= minute) {
    buckets.back().bytes += bytes;  // same minute (or a late, out-of-order update)
  } else {
    buckets.push_back({minute, bytes});
  }
  const int64_t window_minutes = std::max<int64_t>(1, (window_s + 59) / 60);
  const int64_t first = buckets.back().minute - window_minutes + 1;
  while (!buckets.empty() && buckets.front().minute < first) buckets.pop_front();
  uint64_t sum = 0;
  for (const Bucket& b : buckets) sum += b.bytes;
  return sum;
}

uint64_t NameRate::Observe(const std::string& key, const std::string& name, int64_t time_ms) {
  auto it = domains_.find(key);
  if (it == domains_.end()) {
    if (domains_.size() >= max_domains_) {
      auto oldest = domains_.begin();
      for (auto d = domains_.begin(); d != domains_.end(); ++d) {
        const int64_t last = d->second.seen.empty() ? INT64_MIN : d->second.seen.back().first;
        const int64_t best =
            oldest->second.seen.empty() ? INT64_MIN : oldest->second.seen.back().first;
        if (last < best) oldest = d;
      }
      domains_.erase(oldest);
    }
    it = domains_.emplace(key, Domain{}).first;
  }
  Domain& d = it->second;
  const int64_t since = time_ms - 60000;
  while (!d.seen.empty() && (d.seen.front().first < since || d.seen.size() >= max_names_)) {
    auto& [t, n] = d.seen.front();
    if (auto l = d.last.find(n); l != d.last.end() && l->second == t) d.last.erase(l);
    d.seen.pop_front();
  }
  d.seen.emplace_back(time_ms, name);
  d.last[name] = time_ms;
  return d.last.size();
}

std::optional<detect::TokenOwner> TokenRegistry::Use(const std::string& fingerprint,
                                                     const detect::TokenOwner& owner) {
  auto it = owners_.find(fingerprint);
  if (it == owners_.end()) {
    // Full: forget nothing already known (a stolen token must still be recognised); new tokens
    // beyond the cap are simply not tracked for reuse.
    if (owners_.size() < max_tokens_) owners_.emplace(fingerprint, owner);
    return std::nullopt;
  }
  if (it->second.workload == owner.workload && it->second.exe == owner.exe) return std::nullopt;
  return it->second;
}

}  // namespace sluice::state
