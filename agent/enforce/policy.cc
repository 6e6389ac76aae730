#include "agent/enforce/policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice::enforce {
namespace {

using detect::Cidr;
using detect::PortRange;
using detect::SourceLocation;
using detect::Workload;

constexpr PortRange kAnyPort = {0, 65535};

// The ranges of one distinct prefix of a workload, before inheritance.
struct Prefix {
  Cidr cidr;
  std::vector<PortRange> ranges;
  SourceLocation loc;  // the first allow entry that named this prefix
};

// The distinct prefixes of a workload; identical prefixes from several entries are one entry.
std::vector<Prefix> DistinctPrefixes(const std::vector<detect::EgressAllow>& allow) {
  // Keyed by (length, address) so that the result is sorted the way the map entries are.
  std::map<std::pair<int, std::array<uint8_t, 16>>, Prefix> by_key;
  for (const detect::EgressAllow& a : allow) {
    // A host entry has no prefix (its cidr is a zero value, ::/0): the kernel cannot match names,
    // so it allows nothing there; the agent matches it by name (detect::EgressAllowed). The
    // parser refuses host entries in enforce-mode workloads for that reason.
    if (a.host_glob) continue;
    Cidr cidr = a.cidr;
    cidr.base = detect::MaskPrefix(cidr.base, cidr.prefix_len);
    auto [it, inserted] =
        by_key.try_emplace({cidr.prefix_len, cidr.base.bytes}, Prefix{cidr, {}, a.loc});
    AddPortsOf(a.ports, &it->second.ranges);
  }
  std::vector<Prefix> out;
  out.reserve(by_key.size());
  for (auto& [key, prefix] : by_key) out.push_back(std::move(prefix));
  return out;
}

// `key_id`: the kernel id, with SLUICE_ALLOW_QUARANTINE for the quarantine allowlist.
absl::Status CompileAllow(const Workload& w, const std::vector<detect::EgressAllow>& allow,
                          uint32_t key_id, std::vector<AllowEntry>* out) {
  const std::vector<Prefix> prefixes = DistinctPrefixes(allow);
  for (const Prefix& p : prefixes) {
    std::vector<PortRange> ranges;
    // prefixes is sorted by length, so every container of p comes before or at p itself.
    for (const Prefix& q : prefixes) {
      if (q.cidr.prefix_len > p.cidr.prefix_len) break;
      if (q.cidr.Contains(p.cidr.base))
        ranges.insert(ranges.end(), q.ranges.begin(), q.ranges.end());
    }
    ranges = MergePortRanges(std::move(ranges));
    if (ranges.size() > SLUICE_MAX_PORT_RANGES) {
      return absl::InvalidArgumentError(absl::StrCat(
          "workload \"", w.name, "\": allow entry ", p.cidr.ToString(), " at ", p.loc.file, ":",
          p.loc.line, ":", p.loc.column, " needs ", ranges.size(),
          " port ranges once merged with the prefixes that contain it; the kernel holds at most ",
          SLUICE_MAX_PORT_RANGES));
    }
    AllowEntry e;
    std::memset(&e, 0, sizeof(e));
    e.key.prefixlen = 32 + static_cast<uint32_t>(p.cidr.prefix_len);
    e.key.workload_id = htonl(key_id);
    std::memcpy(e.key.addr, p.cidr.base.bytes.data(), sizeof(e.key.addr));
    e.value.nranges = static_cast<uint32_t>(ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      e.value.ranges[i].lo = ranges[i].lo;
      e.value.ranges[i].hi = ranges[i].hi;
    }
    out->push_back(e);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<PortRange> MergePortRanges(std::vector<PortRange> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const PortRange& a, const PortRange& b) {
    return a.lo != b.lo ? a.lo < b.lo : a.hi < b.hi;
  });
  std::vector<PortRange> out;
  for (const PortRange& r : ranges) {
    if (!out.empty() && static_cast<uint32_t>(r.lo) <= static_cast<uint32_t>(out.back().hi) + 1) {
      out.back().hi = std::max(out.back().hi, r.hi);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

void AddPortsOf(const std::vector<PortRange>& ports, std::vector<PortRange>* out) {
  if (ports.empty()) {
    out->push_back(kAnyPort);
  } else {
    out->insert(out->end(), ports.begin(), ports.end());
  }
}

uint64_t BankMask(uint32_t id_base) {
  return id_base == 0 ? (uint64_t{1} << kBankSize) - 1 : ~((uint64_t{1} << kBankSize) - 1);
}

absl::StatusOr<CompiledPolicy> CompilePolicy(const detect::RuleSet& rules, GlobalMode mode,
                                             uint32_t id_base) {
  if (id_base != 0 && id_base != kBankSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel id base ", id_base, " is neither 0 nor ", kBankSize));
  }
  if (rules.workloads.size() > kBankSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        rules.workloads.size(), " workloads; the kernel supports at most ", kBankSize,
        " per rule set"));
  }
  // Sinks stay reachable because the kernel exempts their addresses (enforce::ExemptionsFor); a
  // sink known only by name has no address to exempt, so an armed workload could be denied its
  // SIEM. Such a rule set is refused under --mode enforce rather than run with that hole.
  if (mode == GlobalMode::kEnforce) {
    const Workload* armed = nullptr;
    for (const Workload& w : rules.workloads) {
      if (w.mode == detect::Mode::kEnforce) {
        armed = &w;
        break;
      }
    }
    for (const detect::SinkDestination& sink : rules.sinks) {
      if (armed == nullptr || !sink.to.host_glob || sink.to.cidr) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          sink.loc.file, ":", sink.loc.line, ":", sink.loc.column, ": sink \"", sink.name,
          "\" is named by host \"", *sink.to.host_glob, "\" only: under --mode enforce the "
          "kernel keeps sinks reachable by address, and workload \"", armed->name,
          "\" (mode enforce) could be denied it; give the sink a cidr"));
    }
  }
  CompiledPolicy policy;
  policy.id_base = id_base;
  policy.workloads.resize(rules.workloads.size(), sluice_workload_cfg{});
  for (size_t i = 0; i < rules.workloads.size(); ++i) {
    const Workload& w = rules.workloads[i];
    // The id is the bit in every kernel mask and the index of the workload config: a mismatch
    // would apply one workload's policy to another.
    if (w.id != i) {
      return absl::InvalidArgumentError(
          absl::StrCat("workload \"", w.name, "\" has id ", w.id, " at index ", i));
    }
    if (!w.selector.has_cgroup_side() && !w.selector.exe_glob) {
      // The kernel treats a missing selector as "matches": this workload would take every task.
      return absl::InvalidArgumentError(absl::StrCat("workload \"", w.name, "\" has no selector"));
    }
    const uint64_t bit = uint64_t{1} << (id_base + w.id);
    policy.selector.active_mask |= bit;
    // Unit and container selectors are decided on the cgroup path like the glob, and land in the
    // same cgroup_match bits (state::CgroupMask).
    if (w.selector.has_cgroup_side()) policy.selector.has_cgroup |= bit;
    if (w.selector.exe_glob) policy.selector.has_exe |= bit;
    if (mode == GlobalMode::kEnforce && w.mode == detect::Mode::kEnforce) {
      policy.workloads[i].flags |= SLUICE_WL_F_ENFORCE;
    }
    if (absl::Status s = CompileAllow(w, w.allow, id_base + w.id, &policy.allow); !s.ok()) {
      return s;
    }
    if (absl::Status s = CompileAllow(w, w.quarantine_allow,
                                      (id_base + w.id) | SLUICE_ALLOW_QUARANTINE, &policy.allow);
        !s.ok()) {
      return s;
    }
  }
  return policy;
}

}  // namespace sluice::enforce
