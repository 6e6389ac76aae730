// The egress allowlist decision of one workload, in the agent, and the other destination questions
// detectors ask of the rules (is this peer the CRM, a log sink, an exception?). The kernel makes
// the CIDR part of the allowlist decision from the LPM map that agent/enforce/policy.h compiles;
// policy_test checks the two agree.
//
// Host globs are matched against `names`: the DNS names the destination address was resolved
// from and the TLS SNI of the flow, as the caller knows them. A destination without names is
// matched by CIDR entries only.
#ifndef SLUICE_AGENT_DETECT_ALLOWLIST_H_
#define SLUICE_AGENT_DETECT_ALLOWLIST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

// An empty list means any port (0 included: a connect to port 0 is not worth an extra rule).
bool PortAllowed(const std::vector<PortRange>& ports, uint16_t port);

// fnmatch(glob, name, 0) on the lower-cased name without its trailing dot: "*" also crosses
// dots, so "*.example.com" matches "a.b.example.com" but not "example.com". An empty name
// matches nothing.
bool HostGlobMatches(std::string_view glob, std::string_view name);

// to.any(): true. A host glob: some name matches it. A CIDR: it contains ip. (A Destination with
// both set, which the parser never builds, matches when either does.)
bool DestinationMatches(const Destination& to, const IpAddr& ip,
                        absl::Span<const std::string> names);

// True iff some allow entry allows (dst, port): a CIDR entry whose prefix contains dst, or a
// host entry whose glob matches one of `names`, and whose ports include port.
bool EgressAllowed(const Workload& workload, const IpAddr& dst, uint16_t port,
                   absl::Span<const std::string> names = {});

// True iff some host entry of the workload allows `port`: a name not known yet (the TLS server
// name a ClientHello will carry) could still allow a destination on that port.
bool HostEntryCouldAllow(const Workload& workload, uint16_t port);

// True iff some allow entry that matches (dst, port) says `tls: required`.
bool TlsRequired(const Workload& workload, const IpAddr& dst, uint16_t port,
                 absl::Span<const std::string> names);

// The peer is one of the `crm:` endpoints (a host glob matches a name, or a CIDR contains ip).
bool IsCrmPeer(const RuleSet& rules, const IpAddr& ip, absl::Span<const std::string> names);

// The first sink (rule order) whose destination and ports match, or nullptr.
const SinkDestination* SinkFor(const RuleSet& rules, const IpAddr& ip, uint16_t port,
                               absl::Span<const std::string> names);

// The first exception of `detector` that covers this workload (its own or any) and destination,
// or nullptr. Callers without a destination pass IpAddr{} and no names: only exceptions without
// `to` match then, unless one names a CIDR such as ::/0 that contains the zero address.
const DetectorException* FindException(const RuleSet& rules, std::string_view detector,
                                       std::string_view workload, const IpAddr& ip,
                                       absl::Span<const std::string> names);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ALLOWLIST_H_
