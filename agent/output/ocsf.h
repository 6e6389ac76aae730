// Alerts as OCSF 1.1 Detection Findings (class_uid 2004), the one JSON shape every sink emits
// (DESIGN §7). Fields OCSF has no place for go under unmapped.sluice instead of being dropped.
#ifndef SLUICE_AGENT_OUTPUT_OCSF_H_
#define SLUICE_AGENT_OUTPUT_OCSF_H_

#include <string>

#include "agent/detect/alert.h"
#include "nlohmann/json.hpp"

namespace sluice::output {

// The build's version string (the SLUICE_VERSION compile definition, "0.0.0" when undefined).
extern const char kSluiceVersion[];

// Who reports: metadata.product, and the reporting host (device.hostname).
struct ProductInfo {
  std::string name = "sluice";
  std::string vendor_name = "sluice";
  std::string version = kSluiceVersion;
  std::string hostname;  // "" = gethostname() at render time
};

// The finding as a JSON object. Never throws; strings are stored as given (see RenderLine).
// Beyond the required fields: an aggregated alert carries count, start_time/end_time and
// finding_info.first_seen_time/last_seen_time (epoch ms); files and a DNS domain become
// evidences[] (file, query); byte counts, application protocol, TLS server name and data
// matches (kinds, counts, fingerprints; never values) go under unmapped.sluice. Fields the
// detector left empty add nothing.
nlohmann::json RenderDetectionFinding(const detect::Alert& alert, const ProductInfo& product);

// The finding as one compact JSON line without the trailing newline. Invalid UTF-8 in any string
// (exe paths and command lines are arbitrary bytes) is replaced by U+FFFD rather than failing.
std::string RenderLine(const detect::Alert& alert, const ProductInfo& product);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_OCSF_H_
