// The kernel's event clock: BPF timestamps are CLOCK_BOOTTIME (bpf_ktime_get_boot_ns), so the
// agent compares against the same clock.
#ifndef SLUICE_AGENT_COMMON_BOOT_CLOCK_H_
#define SLUICE_AGENT_COMMON_BOOT_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace sluice {

inline uint64_t BootTimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace sluice

#endif  // SLUICE_AGENT_COMMON_BOOT_CLOCK_H_
