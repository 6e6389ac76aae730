// libFuzzer target: every payload classifier (agent/detect/classify) on arbitrary bytes, as the
// agent runs them on the first bytes of TLS plaintext and TCP payloads. Beyond "no crash"
// (ASan/UBSan) it checks their promises and aborts when one is broken:
// - ClassifyPayload fills exactly the protocol's own fields, and every kept string is bounded
//   and printable (hosts lowercased);
// - each recogniser's output stays in its documented ranges (SNI a DNS name, Kafka api_key and
//   client_id, AMQP frames and method names, Redis command names);
// - a cut of an accepted ClientHello (as a bounded capture makes) never names another host;
// - the sensitive scan is deterministic, its counts and fingerprints bounded, the CRM object
//   counts add up to the CRM id count.
// Built with -DSLUICE_BUILD_FUZZ=ON (clang); the corpus in tests/fuzz/corpus/classify is also
// replayed in every build by agent/detect/classify/classify_corpus_test.cc.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "agent/detect/classify/amqp.h"
#include "agent/detect/classify/http.h"
#include "agent/detect/classify/kafka.h"
#include "agent/detect/classify/redis.h"
#include "agent/detect/classify/sensitive.h"
#include "agent/detect/classify/tls_hello.h"

namespace {

namespace classify = sluice::detect::classify;

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "classify_fuzz: broken promise: %s\n", what);
    abort();
  }
}

bool Printable(absl::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

bool NoUpperCase(absl::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

void CheckHello(const classify::ClientHello& h) {
  Check(h.sni.size() <= classify::kMaxHostBytes, "SNI bounded");
  Check(h.sni.empty() || classify::IsValidDnsName(h.sni), "SNI is a DNS name");
  Check(NoUpperCase(h.sni), "SNI lowercased");
  Check(h.alpn.size() <= classify::kMaxAlpnProtocols, "ALPN count bounded");
  for (const std::string& a : h.alpn) {
    Check(a.size() <= classify::kMaxAlpnProtocolBytes && Printable(a), "ALPN name bounded");
  }
  Check(h.supported_versions.size() <= classify::kMaxSupportedVersions, "versions bounded");
}

void CheckPayloadClass(const classify::PayloadClass& c) {
  using P = classify::PayloadClass;
  Check(c.host.size() <= classify::kMaxHostBytes && Printable(c.host) && NoUpperCase(c.host),
        "host bounded, printable, lowercased");
  Check(c.path.size() <= classify::kMaxPathBytes && Printable(c.path), "path bounded");
  Check(c.kafka.has_value() == (c.protocol == P::kKafka), "kafka fields only for kafka");
  Check(c.amqp.has_value() == (c.protocol == P::kAmqp), "amqp fields only for amqp");
  Check(c.redis.has_value() == (c.protocol == P::kRedis), "redis fields only for redis");
  Check(!c.client_hello.has_value() || c.tls_client_hello, "hello fields only for a hello");
  if (c.client_hello) {
    CheckHello(*c.client_hello);
    Check(c.host == c.client_hello->sni, "the host of a hello is its SNI");
  }
  Check(c.operation.size() <= 64 && Printable(c.operation), "operation bounded");
  if (c.protocol == P::kUnknown) {
    Check(c.host.empty() && c.path.empty() && c.method.empty() && c.operation.empty(),
          "unknown keeps nothing");
  }
}

void CheckSensitive(const classify::SensitiveFindings& f) {
  uint64_t crm = 0, objects = 0;
  for (const classify::SensitiveKind& k : f.kinds) {
    Check(k.count > 0 && k.count <= classify::kMaxSensitiveMatchesPerKind, "count bounded");
    Check(k.fingerprints.size() <= classify::kMaxFingerprintsPerKind &&
              k.fingerprints.size() <= k.count,
          "fingerprints bounded");
    for (const std::string& fp : k.fingerprints) {
      Check(fp.size() == classify::kFingerprintHexChars &&
                fp.find_first_not_of("0123456789abcdef") == std::string::npos,
            "fingerprint is 16 hex characters");
    }
    if (k.kind == classify::kSensitiveCrmRecordId) crm = k.count;
  }
  for (const auto& [type, n] : f.crm_objects) objects += n;
  Check(objects == crm, "CRM object counts add up");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> bytes(data, size);

  CheckPayloadClass(classify::ClassifyPayload(bytes));

  if (auto hello = classify::ParseClientHello(bytes); hello.ok()) {
    CheckHello(*hello);
    if (size > 6) {
      // Cut at a point the input chooses (its last byte), as a bounded capture would.
      const size_t cut = 6 + data[size - 1] % (size - 6);
      if (auto part = classify::ParseClientHello(bytes.first(cut)); part.ok()) {
        CheckHello(*part);
        Check(part->sni.empty() || part->sni == hello->sni, "a cut hello names no other host");
      }
    }
  }
  if (auto k = classify::ParseKafkaRequest(bytes); k.ok()) {
    Check(k->api_key >= 0 && k->api_key <= classify::kMaxKafkaApiKey, "api_key in range");
    Check(k->api_version >= 0 && k->api_version <= classify::kMaxKafkaApiVersion,
          "api_version in range");
    Check(k->client_id.size() <= classify::kMaxKafkaClientIdBytes, "client_id bounded");
    for (char c : k->client_id) Check(c >= 0x20 && c < 0x7f, "client_id printable");
  }
  if (auto a = classify::ParseAmqp(bytes); a.ok()) {
    Check(a->frames.size() <= classify::kMaxAmqpFrames, "frames bounded");
    for (const classify::AmqpFrame& f : a->frames) {
      Check(f.size <= classify::kMaxAmqpFrameBytes, "frame size bounded");
      if (f.type == classify::AmqpFrame::kMethod) {
        Check(f.MethodName() != nullptr, "method frames name a known method");
      }
    }
  }
  if (auto r = classify::ParseRedisCommand(bytes); r.ok()) {
    Check(r->name.size() <= classify::kMaxRedisCommandBytes && Printable(r->name),
          "command name bounded");
    for (char c : r->name) Check(!(c >= 'a' && c <= 'z'), "command name upper-cased");
    Check(!r->known || classify::IsKnownRedisCommand(r->name), "known means known");
    Check(r->request_count >= 1 && r->request_count <= classify::kMaxRedisPipelined,
          "request count bounded");
  }

  const classify::SensitiveFindings found = classify::ScanSensitive(bytes, "fuzz-key");
  CheckSensitive(found);
  Check(classify::ScanSensitive(bytes, "fuzz-key") == found, "the scan is deterministic");
  return 0;
}
