// A hardened parser for DNS answers taken off the wire by the sensor (bpf/lib/dns.bpf.h).
// The input is untrusted (anything that sends a UDP datagram from port 53 to a watched process
// controls it) and possibly cut short by the kernel's bounded copy (SLUICE_DNS_MAX bytes).
// - Every read is bounds checked; any byte sequence is safe to pass.
// - Compression pointers must point before the start of the name (or name segment) being read,
//   so positions only ever decrease: a pointer cannot loop, even before the limit of
//   kDnsMaxPointerHops pointers per name.
// - Labels are at most 63 bytes, names at most 255 bytes in wire form (RFC 1035 2.3.4).
// - Counts are capped: see kDnsMaxQuestions and kDnsMaxAnswers for what happens to the rest.
// - RDLENGTH is checked: A must be 4 bytes, AAAA 16, a CNAME target must fill its RDATA exactly.
// Only what sluice uses is returned: the questions and the A/AAAA/CNAME answers (class IN).
#ifndef SLUICE_AGENT_EVENTS_DNS_H_
#define SLUICE_AGENT_EVENTS_DNS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sluice::events {

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeAaaa = 28;

// A message with more questions is rejected: the answer section starts after the last question,
// so questions cannot be skipped without parsing them, and real resolvers send exactly one.
inline constexpr size_t kDnsMaxQuestions = 16;
// At most this many answer records (of any type) are read; the records after them are ignored
// without an error and without setting `truncated` (the cap is ours, not a cut). A 512-byte
// message holds at most 46 records, so only a crafted or recorded oversize message reaches it.
inline constexpr size_t kDnsMaxAnswers = 64;
// Compression pointers followed while reading one name.
inline constexpr int kDnsMaxPointerHops = 16;

struct DnsAnswer {
  // Owner name in presentation form: lower-case, no trailing dot, labels joined by '.', every
  // byte that is not printable ASCII (and '.', '\' and space inside a label) escaped as \DDD.
  std::string name;
  uint16_t type = 0;               // kDnsTypeA, kDnsTypeAaaa or kDnsTypeCname
  uint32_t ttl = 0;                // as sent; consumers clamp it
  std::array<uint8_t, 16> addr{};  // A as v4-mapped IPv6 (::ffff:a.b.c.d), AAAA as is
  std::string cname;               // CNAME target, same form as `name`

  friend bool operator==(const DnsAnswer&, const DnsAnswer&) = default;
};

struct DnsMessage {
  uint16_t id = 0;
  bool response = false;  // QR bit
  uint8_t opcode = 0;     // 0 = QUERY
  // The message ended inside the answer section, before every record its header announced was
  // read (the sensor copies at most 512 bytes of a datagram). `answers` then holds exactly the
  // records that were complete before the cut; nothing of a partial record is returned.
  bool truncated = false;
  uint8_t rcode = 0;
  std::vector<std::string> questions;  // QNAMEs, same form as DnsAnswer::name
  std::vector<DnsAnswer> answers;      // A/AAAA/CNAME records of class IN of the answer section

  friend bool operator==(const DnsMessage&, const DnsMessage&) = default;
};

// Parses the header, the questions and the answer section (authority and additional records are
// not read). Errors are InvalidArgument with the byte offset of the fault, e.g.
// "dns: offset 37: compression pointer loop":
// - a header or a question that is malformed or cut short (the message is unusable);
// - a malformed answer record (bad pointer, label, name, RDLENGTH).
// A cut inside the answer section is not an error: the message is returned with `truncated`.
absl::StatusOr<DnsMessage> ParseDnsMessage(absl::Span<const uint8_t> bytes);

}  // namespace sluice::events

#endif  // SLUICE_AGENT_EVENTS_DNS_H_
