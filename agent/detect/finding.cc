#include "agent/detect/finding.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/detect/alert_uid.h"
#include "agent/detect/allowlist.h"

namespace sluice::detect {

std::vector<std::string> Peer::AllNames() const {
  std::vector<std::string> all = names;
  if (!sni.empty() && std::find(all.begin(), all.end(), sni) == all.end()) all.push_back(sni);
  return all;
}

std::string Peer::Label() const {
  const std::string hp = HostPort(ip, port);
  if (!names.empty()) return absl::StrCat(names.front(), " (", hp, ")");
  if (!sni.empty()) return absl::StrCat(sni, " (", hp, ")");
  return hp;
}

uint64_t SumReads(const std::vector<SensitiveRead>& reads, const std::vector<std::string>& classes,
                  int64_t since_ms, std::vector<FileAccess>* used) {
  uint64_t sum = 0;
  for (const SensitiveRead& r : reads) {
    if (r.last_read_ms < since_ms) continue;
    if (!classes.empty() &&
        std::find(classes.begin(), classes.end(), r.file_class) == classes.end()) {
      continue;
    }
    sum += r.bytes();
    if (used != nullptr) {
      used->push_back(FileAccess{r.path, r.file_class, r.bytes_read, r.bytes_mapped});
    }
  }
  return sum;
}

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

std::string HostPort(const IpAddr& ip, uint16_t port) {
  if (ip.IsV4Mapped()) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

std::string ProcessLabel(const ProcessInfo& p) {
  const std::string& name = !p.Image().empty() ? p.Image() : "unknown process";
  return absl::StrCat(name, " (pid ", p.pid, ")");
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

bool DetectorEnabled(const RuleSet& rules, const DetectorSpec& spec) {
  const DetectorConfig* c = rules.Detector(spec.id);
  return c == nullptr || c->enabled;
}

bool SeverityOverridden(const RuleSet& rules, const DetectorSpec& spec) {
  const DetectorConfig* c = rules.Detector(spec.id);
  return c != nullptr && c->severity.has_value();
}

const DetectorException* ExceptionFor(const RuleSet& rules, const DetectorSpec& spec,
                                      const Subject& subject, const Peer* peer) {
  const std::string& workload = subject.rule != nullptr ? subject.rule->name : subject.workload.name;
  if (peer == nullptr) return FindException(rules, spec.id, workload, IpAddr{}, {});
  const std::vector<std::string> names = peer->AllNames();
  return FindException(rules, spec.id, workload, peer->ip, names);
}

Alert NewFinding(const RuleSet& rules, const DetectorSpec& spec, const Subject& subject,
                 const Peer* peer) {
  Alert a;
  a.uid = NewAlertUid();
  a.detector = spec.id;
  a.severity = spec.severity;
  if (const DetectorConfig* c = rules.Detector(spec.id); c != nullptr && c->severity) {
    a.severity = static_cast<Severity>(*c->severity);
  }
  a.disposition = spec.severs ? Disposition::kWouldBlock : Disposition::kAllowed;
  a.rule_mode = subject.rule != nullptr ? ModeName(subject.rule->mode) : "monitor";
  a.time_ms = subject.time_ms;
  a.first_seen_ms = a.last_seen_ms = subject.time_ms;
  a.workload = subject.workload;
  if (subject.rule != nullptr) {
    if (a.workload.name.empty()) a.workload.name = subject.rule->name;
    if (a.workload.role.empty()) a.workload.role = subject.rule->role;
  }
  a.process = subject.process;
  if (peer != nullptr) {
    a.destination.ip = peer->ip.ToString();
    a.destination.port = peer->port;
    a.destination.protocol = peer->protocol;
    a.destination.names = peer->names;
    a.sni = peer->sni;
  }
  for (const char* t : spec.attack) a.attack_techniques.emplace_back(t);
  return a;
}

}  // namespace sluice::detect
