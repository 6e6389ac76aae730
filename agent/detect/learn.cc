#include "agent/detect/learn.h"

#include "absl/strings/str_cat.h"
#include "agent/detect/finding.h"
#include "yaml-cpp/yaml.h"

namespace sluice::detect {

LearnProfile::Dest* LearnProfile::Find(const Workload& w, const IpAddr& ip,
                                       const std::vector<std::string>& names) {
  Learned& l = workloads_[w.name];
  const bool named = !names.empty();
  const std::string key = named ? names.front() : ip.ToString();
  auto it = l.dests.find(key);
  if (it == l.dests.end()) {
    if (l.dests.size() >= kMaxDestinations) {
      ++l.dropped;
      return nullptr;
    }
    it = l.dests.emplace(key, Dest{}).first;
    it->second.is_name = named;
  }
  return &it->second;
}

void LearnProfile::OnConnect(const Workload& w, const IpAddr& ip, uint16_t port,
                             const std::vector<std::string>& names) {
  if (IsLoopback(ip)) return;
  if (Dest* d = Find(w, ip, names)) {
    if (port != 0) d->ports.insert(port);
    ++d->connects;
  }
}

void LearnProfile::OnBytesOut(const Workload& w, const IpAddr& ip, uint16_t port,
                              const std::vector<std::string>& names, uint64_t bytes) {
  if (IsLoopback(ip)) return;
  if (Dest* d = Find(w, ip, names)) {
    if (port != 0) d->ports.insert(port);
    d->bytes_out += bytes;
  }
}

void LearnProfile::OnFileRead(const Workload& w, const std::string& file_class, uint64_t bytes) {
  workloads_[w.name].class_bytes[file_class] += bytes;
}

std::string LearnProfile::ProposeRules(const RuleSet& rules) const {
  YAML::Emitter out;
  out << YAML::Comment(
      "Proposed by sluice learn mode: review every entry, then load it with sluicectl rules "
      "check and switch mode to enforce when the alerts are quiet.");
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "workloads" << YAML::Value << YAML::BeginSeq;
  for (const Workload& w : rules.workloads) {
    auto it = workloads_.find(w.name);
    if (w.mode != Mode::kLearn && it == workloads_.end()) continue;
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << w.name;
    if (!w.role.empty()) out << YAML::Key << "role" << YAML::Value << w.role;
    out << YAML::Key << "mode" << YAML::Value << "monitor";
    out << YAML::Key << "selector" << YAML::Value << YAML::BeginMap;
    if (w.selector.cgroup_glob) out << YAML::Key << "cgroup" << YAML::Value << *w.selector.cgroup_glob;
    if (w.selector.unit) out << YAML::Key << "unit" << YAML::Value << *w.selector.unit;
    if (w.selector.container_id) {
      out << YAML::Key << "container" << YAML::Value << YAML::BeginMap << YAML::Key << "id"
          << YAML::Value << *w.selector.container_id << YAML::EndMap;
    }
    if (w.selector.exe_glob) out << YAML::Key << "exe" << YAML::Value << *w.selector.exe_glob;
    out << YAML::EndMap;
    out << YAML::Key << "egress" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "allow" << YAML::Value << YAML::BeginSeq;
    if (it != workloads_.end()) {
      for (const auto& [key, d] : it->second.dests) {
        out << YAML::BeginMap;
        if (d.is_name) {
          out << YAML::Key << "host" << YAML::Value << key;
        } else {
          const bool v4 = key.find(':') == std::string::npos;
          out << YAML::Key << "cidr" << YAML::Value << absl::StrCat(key, v4 ? "/32" : "/128");
        }
        if (!d.ports.empty()) {
          out << YAML::Key << "ports" << YAML::Value << YAML::Flow << YAML::BeginSeq;
          for (uint16_t p : d.ports) out << p;
          out << YAML::EndSeq;
        }
        out << YAML::Key << "comment" << YAML::Value
            << absl::StrCat("learned: ", d.connects, " connect(s), ", HumanBytes(d.bytes_out),
                            " sent");
        out << YAML::EndMap;
      }
    }
    out << YAML::EndSeq << YAML::EndMap;  // allow, egress
    out << YAML::EndMap;                  // workload
    if (it != workloads_.end()) {
      for (const auto& [cls, bytes] : it->second.class_bytes) {
        out << YAML::Comment(absl::StrCat("read file class ", cls, ": ", HumanBytes(bytes)));
      }
      if (it->second.dropped > 0) {
        out << YAML::Comment(absl::StrCat(it->second.dropped, " more destination(s) not listed (",
                                          kMaxDestinations, " max): write a cidr for them"));
      }
    }
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace sluice::detect
