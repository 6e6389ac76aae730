// Writing a small state file so that a crash leaves the old contents or the new ones, never a
// mix: a temporary file beside it, written whole, synced, then renamed over it.
#ifndef SLUICE_AGENT_COMMON_REPLACE_FILE_H_
#define SLUICE_AGENT_COMMON_REPLACE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sluice {

// Replaces `path` with `data` (mode 0600 when created) through `path`.tmp, which is removed
// again on any failure. Errors name the file, with the status code errno maps to.
absl::Status ReplaceFile(const std::string& path, absl::string_view data);

}  // namespace sluice

#endif  // SLUICE_AGENT_COMMON_REPLACE_FILE_H_
