#include "agent/detect/alert.h"

#include <array>
#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "agent/detect/alert_uid.h"

namespace sluice::detect {

const char* DispositionName(Disposition d) {
  // The OCSF disposition captions: sinks and metrics labels use these strings as they are.
  switch (d) {
    case Disposition::kAllowed:
      return "Allowed";
    case Disposition::kBlocked:
      return "Blocked";
    case Disposition::kWouldBlock:
      return "Would block";
  }
  return "Unknown";
}

std::string NewAlertUid() {
  // absl::BitGen is seeded from the OS entropy source and is not thread-safe: one per thread.
  thread_local absl::BitGen gen;
  std::array<uint8_t, 16> b;
  for (int half = 0; half < 2; ++half) {
    uint64_t v = absl::Uniform<uint64_t>(gen);
    for (int i = 0; i < 8; ++i) b[half * 8 + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

}  // namespace sluice::detect
