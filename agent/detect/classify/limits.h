// Bounds shared by every payload classifier (DESIGN §5: classifiers work on bounded prefixes).
// Kept apart from the classifiers so that each of them, and the dispatcher that includes them
// all, can use the same limits without including one another.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_LIMITS_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_LIMITS_H_

#include <cstddef>

namespace sluice::detect::classify {

// Bytes of the prefix examined; the rest is ignored (the capture is ≤ 4 KiB by default and
// configurable, so a larger capture still classifies in bounded time).
inline constexpr size_t kMaxClassifyBytes = 16 * 1024;
// Longest host kept (a DNS name is at most 253 characters; ports and brackets add a few).
inline constexpr size_t kMaxHostBytes = 255;

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_LIMITS_H_
