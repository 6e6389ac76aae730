#include "agent/enforce/exempt.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/enforce/policy.h"
#include "sluice/abi.h"

namespace sluice::enforce {

std::vector<detect::IpAddr> ParseResolvers(const std::string& resolv_conf) {
  std::vector<detect::IpAddr> out;
  for (absl::string_view line : absl::StrSplit(resolv_conf, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.size() < 2 || words[0] != "nameserver") continue;
    absl::string_view addr = words[1];
    if (const size_t zone = addr.find('%'); zone != absl::string_view::npos) {
      addr = addr.substr(0, zone);
    }
    if (auto ip = detect::ParseIp(std::string_view(addr.data(), addr.size())); ip.ok() &&
        std::find(out.begin(), out.end(), *ip) == out.end()) {
      out.push_back(*ip);
    }
  }
  return out;
}

std::vector<Exemption> ExemptionsFor(const detect::RuleSet& rules,
                                     const std::vector<detect::IpAddr>& resolvers,
                                     std::vector<std::string>* unenforceable) {
  std::vector<Exemption> out;
  for (const detect::IpAddr& ip : resolvers) {
    Exemption e;
    e.cidr.base = ip;
    e.cidr.prefix_len = 128;  // one address (IPv4 in its v4-mapped form)
    e.cidr.v4 = ip.IsV4Mapped();
    e.ports = {{53, 53}};
    e.why = absl::StrCat("DNS resolver ", ip.ToString());
    out.push_back(std::move(e));
  }
  for (const detect::SinkDestination& sink : rules.sinks) {
    if (!sink.to.cidr) {
      if (unenforceable != nullptr) {
        unenforceable->push_back(absl::StrCat("sink ", sink.name, " (", *sink.to.host_glob, ")"));
      }
      continue;
    }
    Exemption e;
    e.cidr = *sink.to.cidr;
    AddPortsOf(sink.ports, &e.ports);
    e.why = absl::StrCat("sink ", sink.name);
    out.push_back(std::move(e));
  }
  // The kernel sees only the longest matching prefix: each entry carries the ports of the
  // shorter ones that contain it (a resolver inside a sink's /24 keeps the sink's ports).
  std::vector<Exemption> folded = out;
  for (Exemption& e : folded) {
    for (const Exemption& f : out) {
      if (f.cidr.prefix_len < e.cidr.prefix_len && f.cidr.Contains(e.cidr.base)) {
        e.ports.insert(e.ports.end(), f.ports.begin(), f.ports.end());
      }
    }
    std::vector<detect::PortRange> merged = MergePortRanges(std::move(e.ports));
    if (merged.size() > SLUICE_MAX_PORT_RANGES) {
      if (unenforceable != nullptr) {
        unenforceable->push_back(absl::StrCat(e.why, ": ports past the first ",
                                              SLUICE_MAX_PORT_RANGES, " ranges"));
      }
      merged.resize(SLUICE_MAX_PORT_RANGES);
    }
    e.ports = std::move(merged);
  }
  return folded;
}

}  // namespace sluice::enforce
