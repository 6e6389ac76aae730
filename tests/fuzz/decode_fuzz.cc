// libFuzzer target: the ring record decoder (agent/events/decode.h) on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "agent/events/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)sluice::events::Decode(absl::Span<const uint8_t>(data, size));
  return 0;
}
