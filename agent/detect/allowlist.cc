#include "agent/detect/allowlist.h"

#include <algorithm>

namespace sluice::detect {

bool PortAllowed(const std::vector<PortRange>& ports, uint16_t port) {
  if (ports.empty()) return true;
  return std::any_of(ports.begin(), ports.end(),
                     [port](const PortRange& r) { return r.lo <= port && port <= r.hi; });
}

bool EgressAllowed(const Workload& workload, const IpAddr& dst, uint16_t port) {
  return std::any_of(workload.allow.begin(), workload.allow.end(), [&](const EgressAllow& a) {
    return a.cidr.Contains(dst) && PortAllowed(a.ports, port);
  });
}

}  // namespace sluice::detect
