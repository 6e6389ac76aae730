// dns_tunnel (DESIGN §5): data leaving as DNS queries — long, high-entropy labels (encoded
// record ids) or a burst of distinct names under one domain. Judged on the questions of the DNS
// answers a watched workload receives. MITRE ATT&CK T1071.004 (application layer protocol: DNS)
// and T1048.003.
#ifndef SLUICE_AGENT_DETECT_DNS_TUNNEL_H_
#define SLUICE_AGENT_DETECT_DNS_TUNNEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "agent/detect/finding.h"

namespace sluice::detect {

// Per-domain statistics the engine keeps (agent/state/dns_stats.h) for one query.
struct DnsQueryObservation {
  Subject subject;
  std::string name;            // the question
  std::string domain;          // its registered domain (RegisteredDomain)
  size_t longest_label = 0;    // of the labels left of the domain
  double label_entropy = 0;    // Shannon entropy (bits/char) of that label
  uint64_t names_last_minute = 0;  // distinct names under the domain in the last 60 s
};

class DnsTunnelDetector {
 public:
  static const DetectorSpec& Spec();
  // "b.example.co.uk" -> "example.co.uk", "x.y.paste.evil.test" -> "evil.test". Without a public
  // suffix list: two labels, three when the second-to-last is a short generic one (co, com, net,
  // org, gov, ac, edu) under a two-letter country code.
  static std::string RegisteredDomain(absl::string_view name);
  static double Entropy(absl::string_view s);
  std::optional<Alert> Evaluate(const RuleSet& rules, const DnsQueryObservation& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_DNS_TUNNEL_H_
