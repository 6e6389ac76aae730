#include "agent/detect/dns_tunnel.h"

#include <array>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sluice::detect {

const DetectorSpec& DnsTunnelDetector::Spec() {
  static const DetectorSpec spec{"dns_tunnel", "DNS tunnelling", Severity::kHigh,
                                 {"T1071.004", "T1048.003"}, /*severs=*/false};
  return spec;
}

std::string DnsTunnelDetector::RegisteredDomain(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.', absl::SkipEmpty());
  if (labels.size() <= 2) return std::string(name);
  size_t keep = 2;
  const absl::string_view tld = labels.back();
  const absl::string_view sld = labels[labels.size() - 2];
  static constexpr std::array<absl::string_view, 7> kGeneric = {"co", "com", "net", "org",
                                                              "gov", "ac",  "edu"};
  if (tld.size() == 2 && std::find(kGeneric.begin(), kGeneric.end(), sld) != kGeneric.end()) {
    keep = 3;
  }
  if (labels.size() <= keep) return std::string(name);
  return absl::StrJoin(labels.end() - keep, labels.end(), ".");
}

double DnsTunnelDetector::Entropy(absl::string_view s) {
  if (s.empty()) return 0;
  std::array<uint32_t, 256> counts{};
  for (unsigned char c : s) ++counts[c];
  double h = 0;
  const double n = static_cast<double>(s.size());
  for (uint32_t c : counts) {
    if (c == 0) continue;
    const double p = c / n;
    h -= p * std::log2(p);
  }
  return h;
}

std::optional<Alert> DnsTunnelDetector::Evaluate(const RuleSet& rules,
                                                 const DnsQueryObservation& obs) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  const bool encoded_label =
      static_cast<double>(obs.longest_label) >= rules.Param(spec.id, "min_label_len") &&
      obs.label_entropy >= rules.Param(spec.id, "min_entropy");
  const bool burst = static_cast<double>(obs.names_last_minute) >
                     rules.Param(spec.id, "max_queries_per_min");
  if (!encoded_label && !burst) return std::nullopt;
  // Exceptions name the tunnelled domain as a host glob (`to: "*.trusted-cdn.example"`).
  Peer as_peer;
  as_peer.names = {obs.name, obs.domain};
  if (ExceptionFor(rules, spec, obs.subject, &as_peer) != nullptr) return std::nullopt;
  Alert a = NewFinding(rules, spec, obs.subject, nullptr);
  a.dns_domain = obs.domain;
  a.destination.names = {obs.domain};
  a.destination.protocol = "udp";
  a.destination.port = 53;
  a.title = absl::StrCat("DNS tunnelling suspected from workload ", a.workload.name, " via ",
                         obs.domain);
  std::vector<std::string> why;
  if (encoded_label) {
    why.push_back(absl::StrFormat("a %zu-character label with %.2f bits/char of entropy",
                                  obs.longest_label, obs.label_entropy));
  }
  if (burst) {
    why.push_back(absl::StrCat(obs.names_last_minute, " distinct names in the last minute"));
  }
  // The query name itself may carry the data: only its domain and shape are reported.
  a.description = absl::StrCat(ProcessLabel(obs.subject.process), " in workload ",
                               a.workload.name, " queried names under ", obs.domain, " with ",
                               absl::StrJoin(why, " and "),
                               ": the pattern of data encoded into DNS queries.");
  return a;
}

}  // namespace sluice::detect
