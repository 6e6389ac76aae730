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
nlohmann::json RenderDetectionFinding(const detect::Alert& alert, const ProductInfo& product);

// The finding as one compact JSON line without the trailing newline. Invalid UTF-8 in any string
// (exe paths and command lines are arbitrary bytes) is replaced by U+FFFD rather than failing.
std::string RenderLine(const detect::Alert& alert, const ProductInfo& product);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_OCSF_H_
