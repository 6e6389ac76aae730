#include "agent/detect/archive_staging.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace sluice::detect {
namespace {

constexpr std::array<absl::string_view, 17> kArchivers = {
    "tar", "bsdtar", "zip", "7z", "7za", "7zr", "rar", "gzip", "pigz", "bzip2",
    "pbzip2", "xz", "zstd", "lz4", "cpio", "pax", "lzma"};

}  // namespace

const DetectorSpec& ArchiveStagingDetector::Spec() {
  static const DetectorSpec spec{"archive_staging", "Sensitive data archived", Severity::kMedium,
                                 {"T1560", "T1074"}, /*severs=*/false};
  return spec;
}

bool ArchiveStagingDetector::IsArchiver(absl::string_view exe_path) {
  return std::find(kArchivers.begin(), kArchivers.end(), Basename(exe_path)) != kArchivers.end();
}

std::optional<Alert> ArchiveStagingDetector::Evaluate(const RuleSet& rules,
                                                      const ArchiveObservation& obs) const {
  const DetectorSpec& spec = Spec();
  if (!DetectorEnabled(rules, spec)) return std::nullopt;
  if (!IsArchiver(obs.subject.process.Image())) return std::nullopt;
  std::vector<FileAccess> files;
  const uint64_t read = SumReads(obs.reads, {}, INT64_MIN, &files);
  if (read == 0 || static_cast<double>(read) < rules.Param(spec.id, "min_bytes")) {
    return std::nullopt;
  }
  if (ExceptionFor(rules, spec, obs.subject, nullptr) != nullptr) return std::nullopt;
  Alert a = NewFinding(rules, spec, obs.subject, nullptr);
  a.files = std::move(files);
  a.title = absl::StrCat("Sensitive files archived in workload ", a.workload.name, " by ",
                         ProcessLabel(obs.subject.process));
  a.description = absl::StrCat(ProcessLabel(obs.subject.process), " in workload ",
                               a.workload.name, " read ", HumanBytes(read),
                               " of sensitive files (", a.files.size(),
                               " file(s)): archives are how dumps are staged for upload.");
  return a;
}

}  // namespace sluice::detect
