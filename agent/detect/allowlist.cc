#include "agent/detect/allowlist.h"

#include <fnmatch.h>

#include <algorithm>

#include "absl/strings/ascii.h"

namespace sluice::detect {
namespace {

bool AnyNameMatches(std::string_view glob, absl::Span<const std::string> names) {
  return std::any_of(names.begin(), names.end(),
                     [glob](const std::string& name) { return HostGlobMatches(glob, name); });
}

// Host entries match by name only: their `cidr` is a zero value (::/0) that must never be
// consulted.
bool EntryMatches(const EgressAllow& a, const IpAddr& dst, uint16_t port,
                  absl::Span<const std::string> names) {
  const bool dest = a.host_glob ? AnyNameMatches(*a.host_glob, names) : a.cidr.Contains(dst);
  return dest && PortAllowed(a.ports, port);
}

}  // namespace

bool PortAllowed(const std::vector<PortRange>& ports, uint16_t port) {
  if (ports.empty()) return true;
  return std::any_of(ports.begin(), ports.end(),
                     [port](const PortRange& r) { return r.lo <= port && port <= r.hi; });
}

bool HostGlobMatches(std::string_view glob, std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || glob.empty()) return false;
  // fnmatch needs NUL-terminated strings; a NUL inside either would cut it short.
  if (name.find('\0') != std::string_view::npos || glob.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string lower(name);
  absl::AsciiStrToLower(&lower);
  return fnmatch(std::string(glob).c_str(), lower.c_str(), 0) == 0;
}

bool DestinationMatches(const Destination& to, const IpAddr& ip,
                        absl::Span<const std::string> names) {
  if (to.any()) return true;
  return (to.host_glob && AnyNameMatches(*to.host_glob, names)) ||
         (to.cidr && to.cidr->Contains(ip));
}

bool EgressAllowed(const Workload& workload, const IpAddr& dst, uint16_t port,
                   absl::Span<const std::string> names) {
  return std::any_of(workload.allow.begin(), workload.allow.end(),
                     [&](const EgressAllow& a) { return EntryMatches(a, dst, port, names); });
}

bool HostEntryCouldAllow(const Workload& workload, uint16_t port) {
  return std::any_of(workload.allow.begin(), workload.allow.end(), [port](const EgressAllow& a) {
    return a.host_glob && (a.ports.empty() || std::any_of(a.ports.begin(), a.ports.end(),
                                                          [port](const PortRange& r) {
                                                            return port >= r.lo && port <= r.hi;
                                                          }));
  });
}

bool TlsRequired(const Workload& workload, const IpAddr& dst, uint16_t port,
                 absl::Span<const std::string> names) {
  return std::any_of(workload.allow.begin(), workload.allow.end(), [&](const EgressAllow& a) {
    return a.tls_required && EntryMatches(a, dst, port, names);
  });
}

bool IsCrmPeer(const RuleSet& rules, const IpAddr& ip, absl::Span<const std::string> names) {
  const CrmEndpoints& crm = rules.crm;
  return std::any_of(crm.host_globs.begin(), crm.host_globs.end(),
                     [names](const std::string& glob) { return AnyNameMatches(glob, names); }) ||
         std::any_of(crm.cidrs.begin(), crm.cidrs.end(),
                     [&ip](const Cidr& cidr) { return cidr.Contains(ip); });
}

const SinkDestination* SinkFor(const RuleSet& rules, const IpAddr& ip, uint16_t port,
                               absl::Span<const std::string> names) {
  for (const SinkDestination& sink : rules.sinks) {
    // A sink always names its destination; one that does not (a hand-built RuleSet) must not
    // turn every peer into a sink that is never blocked.
    if (sink.to.any()) continue;
    if (DestinationMatches(sink.to, ip, names) && PortAllowed(sink.ports, port)) return &sink;
  }
  return nullptr;
}

const DetectorException* FindException(const RuleSet& rules, std::string_view detector,
                                       std::string_view workload, const IpAddr& ip,
                                       absl::Span<const std::string> names) {
  const DetectorConfig* config = rules.Detector(detector);
  if (config == nullptr) return nullptr;
  for (const DetectorException& e : config->exceptions) {
    if (!e.workload.empty() && e.workload != workload) continue;
    if (DestinationMatches(e.to, ip, names)) return &e;
  }
  return nullptr;
}

}  // namespace sluice::detect
