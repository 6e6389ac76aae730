// A hardened parser for DNS answers taken off the wire by the sensor (bpf/probes/dns.bpf.c).
// Input is untrusted and possibly cut short by the kernel's bounded copy: every read is bounds
// checked, compression pointers must point strictly backwards (so they cannot loop) and are
// followed at most kMaxPointerHops times, names and labels are length-limited, and counts are
// capped. Only what sluice uses is returned: the questions and the A/AAAA/CNAME answers.
#ifndef SLUICE_AGENT_EVENTS_DNS_H_
#define SLUICE_AGENT_EVENTS_DNS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sluice::events {

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeAaaa = 28;

struct DnsAnswer {
  std::string name;                // owner name, lower-case, no trailing dot
  uint16_t type = 0;               // kDnsTypeA, kDnsTypeAaaa or kDnsTypeCname
  uint32_t ttl = 0;
  std::array<uint8_t, 16> addr{};  // A as v4-mapped IPv6 (::ffff:a.b.c.d), AAAA as is
  std::string cname;               // CNAME target, lower-case, no trailing dot

  friend bool operator==(const DnsAnswer&, const DnsAnswer&) = default;
};

struct DnsMessage {
  uint16_t id = 0;
  bool response = false;
  // The message ended before everything its header announced was read (the sensor copies at
  // most 512 bytes). What was parsed completely before the cut is returned.
  bool truncated = false;
  uint8_t rcode = 0;
  std::vector<std::string> questions;  // QNAMEs
  std::vector<DnsAnswer> answers;      // A/AAAA/CNAME records of the answer section
};

inline constexpr size_t kDnsMaxQuestions = 16;  // more are not read (real queries carry one)
inline constexpr size_t kDnsMaxAnswers = 64;    // more are not read: a flood cannot grow state
inline constexpr int kDnsMaxPointerHops = 16;

// InvalidArgument with the byte offset ("dns: offset 37: compression pointer loop") when the
// header or a question is malformed or cut; a cut inside the answer section only sets
// `truncated`. Never reads outside `bytes`.
absl::StatusOr<DnsMessage> ParseDnsMessage(absl::Span<const uint8_t> bytes);

}  // namespace sluice::events

#endif  // SLUICE_AGENT_EVENTS_DNS_H_
