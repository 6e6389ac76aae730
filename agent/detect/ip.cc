#include "agent/detect/ip.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice::detect {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string V6Text(const IpAddr& addr) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, addr.bytes.data(), buf, sizeof(buf)) == nullptr) return "?";
  return buf;
}

// Parses a prefix length: decimal digits only (no sign, no spaces), at most max_len.
bool ParsePrefixLen(absl::string_view text, int max_len, int* out) {
  if (text.empty() || text.size() > 3) return false;
  int v = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  if (v > max_len) return false;
  *out = v;
  return true;
}

}  // namespace

IpAddr IpAddr::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddr ip;
  std::memcpy(ip.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  ip.bytes[12] = a;
  ip.bytes[13] = b;
  ip.bytes[14] = c;
  ip.bytes[15] = d;
  return ip;
}

bool IpAddr::IsV4Mapped() const {
  return std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::string IpAddr::ToString() const {
  if (IsV4Mapped()) {
    return absl::StrCat(bytes[12], ".", bytes[13], ".", bytes[14], ".", bytes[15]);
  }
  return V6Text(*this);
}

absl::StatusOr<IpAddr> ParseIp(std::string_view text) {
  const std::string s(text);
  // inet_pton reads a C string: an embedded NUL would make it accept "1.2.3.4\0garbage".
  if (s.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("invalid IP address: contains a NUL byte");
  }
  IpAddr ip;
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(ip.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(ip.bytes.data() + 12, &v4, 4);
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
  return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", s, "\""));
}

IpAddr MaskPrefix(const IpAddr& addr, int prefix_len) {
  IpAddr out = addr;
  if (prefix_len < 0) prefix_len = 0;
  for (int i = 0; i < 16; ++i) {
    const int bits = prefix_len - i * 8;  // bits of byte i that belong to the prefix
    if (bits >= 8) continue;
    out.bytes[i] = bits <= 0 ? 0 : static_cast<uint8_t>(out.bytes[i] & (0xff << (8 - bits)));
  }
  return out;
}

bool Cidr::Contains(const IpAddr& addr) const {
  // Mask both sides so that a hand-built Cidr with host bits set still behaves as a prefix.
  return MaskPrefix(addr, prefix_len) == MaskPrefix(base, prefix_len);
}

std::string Cidr::ToString() const {
  if (v4) return absl::StrCat(base.ToString(), "/", prefix_len - 96);
  if (base.IsV4Mapped()) return absl::StrCat("::ffff:", base.ToString(), "/", prefix_len);
  return absl::StrCat(V6Text(base), "/", prefix_len);
}

absl::StatusOr<Cidr> ParseCidr(std::string_view cidr_text) {
  // Debian's Abseil has its own string_view type: StrCat takes that one.
  const absl::string_view text(cidr_text.data(), cidr_text.size());
  const size_t slash = text.find('/');
  const absl::string_view addr_text = text.substr(0, slash);
  Cidr cidr;
  // Decide the family from the text, not from the parsed bytes: "::ffff:10.0.0.0/104" is
  // written as IPv6 and its prefix length counts 128 bits.
  cidr.v4 = addr_text.find(':') == absl::string_view::npos;
  absl::StatusOr<IpAddr> ip = ParseIp(std::string_view(addr_text.data(), addr_text.size()));
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\": \"", addr_text,
                                                   "\" is not an IP", cidr.v4 ? "v4" : "v6",
                                                   " address"));
  }
  const int max_len = cidr.v4 ? 32 : 128;
  int len = max_len;
  if (slash != absl::string_view::npos && !ParsePrefixLen(text.substr(slash + 1), max_len, &len)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid CIDR \"", text, "\": prefix length must be a number 0..", max_len));
  }
  cidr.prefix_len = cidr.v4 ? 96 + len : len;
  cidr.base = MaskPrefix(*ip, cidr.prefix_len);
  if (cidr.base != *ip) {
    return absl::InvalidArgumentError(
        absl::StrCat("host bits set in ", text, " (did you mean ", cidr.ToString(), "?)"));
  }
  return cidr;
}

bool IsLoopback(const IpAddr& addr) {
  static const IpAddr kV6Loopback = [] {
    IpAddr ip;
    ip.bytes[15] = 1;
    return ip;
  }();
  return (addr.IsV4Mapped() && addr.bytes[12] == 127) || addr == kV6Loopback;
}

}  // namespace sluice::detect
