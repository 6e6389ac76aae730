// The egress allowlist decision of one workload, in the agent. The kernel makes the same decision
// from the LPM map that agent/enforce/policy.h compiles; policy_test checks the two agree.
#ifndef SLUICE_AGENT_DETECT_ALLOWLIST_H_
#define SLUICE_AGENT_DETECT_ALLOWLIST_H_

#include <cstdint>
#include <vector>

#include "agent/detect/ip.h"
#include "agent/detect/rules.h"

namespace sluice::detect {

// An empty list means any port (0 included: a connect to port 0 is not worth an extra rule).
bool PortAllowed(const std::vector<PortRange>& ports, uint16_t port);

// True iff some allow entry's CIDR contains dst and allows port.
bool EgressAllowed(const Workload& workload, const IpAddr& dst, uint16_t port);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ALLOWLIST_H_
