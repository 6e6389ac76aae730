// Learn mode (DESIGN §5): a workload in `mode: learn` is observed instead of judged, and what it
// did becomes a proposed rule — the destinations it reached (by DNS name where it had one, else
// by address) with their ports, and the sensitive file classes it read — for a person to review
// before switching the workload to monitor and then enforce.
#ifndef SLUICE_AGENT_DETECT_LEARN_H_
#define SLUICE_AGENT_DETECT_LEARN_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

class LearnProfile {
 public:
  // At most this many destinations per workload: a learning workload that talks to thousands
  // of peers needs a CIDR written by hand, not a list; the overflow is counted and reported.
  static constexpr size_t kMaxDestinations = 256;

  // A connect of a learn-mode workload. `names`: DNS names of the address (first preferred).
  void OnConnect(const Workload& w, const IpAddr& ip, uint16_t port,
                 const std::vector<std::string>& names);
  void OnBytesOut(const Workload& w, const IpAddr& ip, uint16_t port,
                  const std::vector<std::string>& names, uint64_t bytes);
  void OnFileRead(const Workload& w, const std::string& file_class, uint64_t bytes);

  bool empty() const { return workloads_.empty(); }

  // A rule file (YAML, schema version 1) with one workload per learned workload: its name, role
  // and selector as in `rules`, mode monitor, an allow entry per destination (a `host` entry
  // when a name is known, else a /32 or /128 `cidr`), comments with what was seen.
  std::string ProposeRules(const RuleSet& rules) const;

 private:
  struct Dest {
    std::set<uint16_t> ports;
    uint64_t connects = 0;
    uint64_t bytes_out = 0;
    bool is_name = false;
  };
  struct Learned {
    std::map<std::string, Dest> dests;  // key: name, or address text
    std::map<std::string, uint64_t> class_bytes;
    uint64_t dropped = 0;
  };
  Dest* Find(const Workload& w, const IpAddr& ip, const std::vector<std::string>& names);

  std::map<std::string, Learned> workloads_;  // by workload name
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_LEARN_H_
