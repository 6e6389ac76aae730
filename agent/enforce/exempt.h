// Destinations enforcement never denies (DESIGN §6 safety): the host's DNS resolvers (port 53)
// and the SIEM/log sinks the rules name by CIDR. A host that cannot resolve names or ship its
// alerts is worse off, not safer, so these are allowed for every workload in the kernel
// (the `exempt` map, checked before the allowlist) rather than left to each rule.
#ifndef SLUICE_AGENT_ENFORCE_EXEMPT_H_
#define SLUICE_AGENT_ENFORCE_EXEMPT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::enforce {

struct Exemption {
  detect::Cidr cidr;
  std::vector<detect::PortRange> ports;  // merged, sorted; never empty (any port is 0-65535)
  std::string why;                       // "DNS resolver (/etc/resolv.conf)", "sink siem-1", ...
};

// The `nameserver` addresses of a resolv.conf text (IPv4 and IPv6; a zone suffix "%eth0" is
// dropped; lines that are not valid addresses are skipped).
std::vector<detect::IpAddr> ParseResolvers(const std::string& resolv_conf);

// One exemption per resolver (port 53) and per sink with a CIDR (its ports, or any). Sinks named
// by host glob cannot be exempted in the kernel (it sees addresses); they are listed in
// `unenforceable` for the log.
std::vector<Exemption> ExemptionsFor(const detect::RuleSet& rules,
                                     const std::vector<detect::IpAddr>& resolvers,
                                     std::vector<std::string>* unenforceable);

}  // namespace sluice::enforce

#endif  // SLUICE_AGENT_ENFORCE_EXEMPT_H_
