// IP addresses and CIDR prefixes as the rules, the detectors and the kernel maps see them.
//
// Every address lives in one 128-bit space: IPv4 is stored v4-mapped (::ffff:a.b.c.d), exactly
// as the BPF side stores it (sluice_connect_event.daddr, sluice_allow_key.addr). One space means
// one comparison routine, and an AF_INET6 socket connecting to ::ffff:a.b.c.d is matched by the
// same IPv4 rule as an AF_INET socket (DESIGN §4, "known traps").
#ifndef SLUICE_AGENT_DETECT_IP_H_
#define SLUICE_AGENT_DETECT_IP_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice::detect {

struct IpAddr {
  std::array<uint8_t, 16> bytes{};  // network byte order

  // Builds ::ffff:a.b.c.d from four octets (a is the most significant).
  static IpAddr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);

  bool IsV4Mapped() const;
  // Dotted quad for v4-mapped addresses, RFC 5952 text (inet_ntop) for the rest.
  std::string ToString() const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

// Accepts "192.0.2.1", "2001:db8::1" and "::ffff:192.0.2.1" (the last two forms of the same
// IPv4 address parse to the same IpAddr). No surrounding whitespace, no zone ids.
absl::StatusOr<IpAddr> ParseIp(std::string_view text);

// Clears every bit after the first prefix_len (0..128) bits.
IpAddr MaskPrefix(const IpAddr& addr, int prefix_len);

struct Cidr {
  IpAddr base;         // host bits are zero
  int prefix_len = 0;  // in the 128-bit space: an IPv4 /n is 96 + n
  bool v4 = false;     // written as IPv4: printed and reasoned about as such

  // A v4 CIDR contains the v4-mapped form of its addresses; a v6 CIDR such as ::ffff:0:0/96
  // or ::/0 contains v4-mapped addresses too, since both live in the same space.
  bool Contains(const IpAddr& addr) const;
  // "10.0.0.0/8" for v4, "2001:db8::/32" for v6 (a v6 CIDR over the mapped range keeps its
  // "::ffff:" form so that it reads back as the same prefix).
  std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// "10.0.0.0/8", "2001:db8::/32"; a bare address is a /32 (v4) or /128 (v6). Rejects prefix
// lengths out of range and set host bits: "10.0.0.1/8" is almost always a typo for a host or a
// different network, and silently masking it would widen what the rule allows.
absl::StatusOr<Cidr> ParseCidr(std::string_view text);

// 127.0.0.0/8 (v4-mapped) and ::1.
bool IsLoopback(const IpAddr& addr);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_IP_H_
