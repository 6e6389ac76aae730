// libFuzzer target: the ring record decoder (agent/events/decode.h, events::Decode) on arbitrary
// bytes, as a corrupt or hostile recorded stream would present them. A decoded DNS record goes on
// to the DNS parser, as in the engine. Errors must be InvalidArgument; anything else is checked by
// ASan/UBSan. Built with -DSLUICE_BUILD_FUZZ=ON (clang); scripts/fuzz.sh runs it over
// tests/fuzz/corpus/decode.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <variant>

#include "agent/events/decode.h"
#include "agent/events/dns.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto e = sluice::events::Decode(absl::Span<const uint8_t>(data, size));
  if (!e.ok()) {
    if (e.status().code() != absl::StatusCode::kInvalidArgument) {
      fprintf(stderr, "decode_fuzz: error is not InvalidArgument\n");
      abort();
    }
    return 0;
  }
  if (const auto* dns = std::get_if<sluice::events::DnsEvent>(&*e)) {
    if (dns->payload.size() > SLUICE_DNS_MAX) abort();
    (void)sluice::events::ParseDnsMessage(dns->payload);
  }
  if (const auto* tls = std::get_if<sluice::events::TlsEvent>(&*e)) {
    if (tls->data.size() > SLUICE_TLS_CAPTURE_MAX) abort();
  }
  return 0;
}
