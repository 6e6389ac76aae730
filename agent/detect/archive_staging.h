// archive_staging (DESIGN §5): an archiver or compressor (tar, zip, gzip, xz, zstd, 7z, ...) read
// sensitive files — the step before a dump is uploaded in one piece. Fires once per process,
// when its sensitive reads reach min_bytes. MITRE ATT&CK T1560 (archive collected data) and
// T1074 (data staged).
#ifndef SLUICE_AGENT_DETECT_ARCHIVE_STAGING_H_
#define SLUICE_AGENT_DETECT_ARCHIVE_STAGING_H_

#include <optional>
#include "absl/strings/string_view.h"
#include <vector>

#include "agent/detect/finding.h"

namespace sluice::detect {

struct ArchiveObservation {
  Subject subject;                   // the archiver process
  std::vector<SensitiveRead> reads;  // what this process read
};

class ArchiveStagingDetector {
 public:
  static const DetectorSpec& Spec();
  // The basename of an executable that packs or compresses files.
  static bool IsArchiver(absl::string_view exe_path);
  std::optional<Alert> Evaluate(const RuleSet& rules, const ArchiveObservation& obs) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ARCHIVE_STAGING_H_
