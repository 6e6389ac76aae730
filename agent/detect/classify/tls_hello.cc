#include "agent/detect/classify/tls_hello.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/detect/classify/byte_reader.h"
#include "agent/detect/classify/limits.h"

namespace sluice::detect::classify {
namespace {

constexpr uint8_t kRecordHandshake = 0x16;
constexpr uint8_t kHandshakeClientHello = 0x01;
constexpr size_t kRecordHeaderBytes = 5;
// RFC 8446 §5.1: a record fragment is at most 2^14 bytes, plus 2048 of expansion in TLS 1.2.
constexpr uint32_t kMaxTlsRecordLength = (1u << 14) + 2048;
// legacy_version, random, three empty-or-minimal vectors: the smallest hello that can exist.
constexpr uint32_t kMinHelloBytes = 2 + 32 + 1 + 2 + 2 + 1 + 1;
constexpr size_t kMaxDnsNameBytes = 253;
constexpr size_t kMaxDnsLabelBytes = 63;

constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tls: malformed ClientHello: ", what));
}

// RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa are reserved values clients send to keep servers
// tolerant; they say nothing about the client's real offer.
bool IsGrease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// A TLS record header that could carry (part of) a handshake message.
bool IsHandshakeRecordHeader(absl::string_view h) {
  if (h.size() < kRecordHeaderBytes) return false;
  const uint32_t length = (static_cast<uint8_t>(h[3]) << 8) | static_cast<uint8_t>(h[4]);
  return static_cast<uint8_t>(h[0]) == kRecordHandshake && h[1] == 0x03 &&
         static_cast<uint8_t>(h[2]) <= 0x04 && length > 0 && length <= kMaxTlsRecordLength;
}

// Printable ASCII kept, anything else as %XX, cut at `max`. Returns false when cut.
bool AppendEscaped(absl::string_view in, size_t max, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f && c != '%') {
      if (out->size() + 1 > max) return false;
      out->push_back(ch);
    } else {
      if (out->size() + 3 > max) return false;
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    }
  }
  return true;
}

absl::Status ParseServerName(absl::string_view body, ClientHello* out) {
  ByteReader r(body);
  const uint16_t list_length = r.U16();
  if (!r.ok() || list_length != r.remaining() || list_length == 0) {
    return Malformed("server_name list length");
  }
  bool host_seen = false;
  while (!r.empty()) {
    const uint8_t name_type = r.U8();
    const absl::string_view name = r.Bytes(r.U16());
    if (!r.ok()) return Malformed("server_name entry length");
    // RFC 6066 §3: at most one name of each type; host_name (0) is the only type defined.
    if (name_type != 0 || host_seen) continue;
    host_seen = true;
    absl::string_view host = name;
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (IsValidDnsName(host)) {
      out->sni = absl::AsciiStrToLower(host);
    } else {
      out->sni_invalid = true;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAlpn(absl::string_view body, ClientHello* out) {
  ByteReader r(body);
  const uint16_t list_length = r.U16();
  if (!r.ok() || list_length != r.remaining() || list_length < 2) {
    return Malformed("ALPN list length");
  }
  while (!r.empty()) {
    const uint8_t length = r.U8();
    const absl::string_view name = r.Bytes(length);
    if (!r.ok() || length == 0) return Malformed("ALPN protocol length");
    if (out->alpn.size() >= kMaxAlpnProtocols) {
      out->alpn_truncated = true;
      continue;
    }
    std::string kept;
    if (!AppendEscaped(name, kMaxAlpnProtocolBytes, &kept)) out->alpn_truncated = true;
    out->alpn.push_back(std::move(kept));
  }
  return absl::OkStatus();
}

absl::Status ParseSupportedVersions(absl::string_view body, ClientHello* out) {
  ByteReader r(body);
  const uint8_t length = r.U8();
  if (!r.ok() || length != r.remaining() || length < 2 || length % 2 != 0) {
    return Malformed("supported_versions length");
  }
  while (!r.empty()) {
    const uint16_t v = r.U16();
    if (IsGrease(v) || out->supported_versions.size() >= kMaxSupportedVersions) continue;
    out->supported_versions.push_back(v);
  }
  return absl::OkStatus();
}

// ClientHello body (RFC 8446 §4.1.2, after the 4-byte handshake header). `hello_length` is the
// length the header announced; `body` holds its first bytes, fewer when `cut` (the prefix
// ended). A read past `body` is then the end of what was seen, not a malformed hello.
absl::Status ParseHelloBody(absl::string_view body, uint32_t hello_length, bool cut,
                            ClientHello* out) {
  ByteReader r(body);
  auto overrun = [&]() {
    if (cut) {
      out->truncated = true;
      return absl::OkStatus();
    }
    return Malformed("field past the end of the hello");
  };

  out->legacy_version = r.U16();
  if (!r.ok()) return overrun();
  if (out->legacy_version >> 8 != 0x03) return Malformed("legacy_version");
  r.Skip(32);  // random
  const uint8_t session_id_length = r.U8();
  if (!r.ok()) return overrun();
  if (session_id_length > 32) return Malformed("session id length");
  r.Skip(session_id_length);
  const uint16_t cipher_suites_length = r.U16();
  if (!r.ok()) return overrun();
  if (cipher_suites_length < 2 || cipher_suites_length % 2 != 0) {
    return Malformed("cipher suites length");
  }
  r.Skip(cipher_suites_length);
  const uint8_t compression_length = r.U8();
  if (!r.ok()) return overrun();
  if (compression_length == 0) return Malformed("compression methods length");
  r.Skip(compression_length);
  if (!r.ok()) return overrun();

  // Extensions are optional (a hello without any ends here), but when present their length
  // must fill the rest of the hello exactly.
  if (r.pos() == hello_length) return absl::OkStatus();
  const uint16_t extensions_length = r.U16();
  if (!r.ok()) return overrun();
  if (extensions_length != hello_length - r.pos()) return Malformed("extensions length");

  bool seen_sni = false, seen_alpn = false, seen_versions = false;
  ByteReader exts(r.Rest());
  while (!exts.empty()) {
    const uint16_t type = exts.U16();
    const absl::string_view ext = exts.Bytes(exts.U16());
    if (!exts.ok()) return overrun();
    ++out->extension_count;
    // RFC 8446 §4.2: an extension type appears at most once; a server rejects a hello that
    // repeats one, so a repeated one is not a real client's.
    absl::Status s;
    switch (type) {
      case kExtServerName:
        if (seen_sni) return Malformed("repeated server_name");
        seen_sni = true;
        s = ParseServerName(ext, out);
        break;
      case kExtAlpn:
        if (seen_alpn) return Malformed("repeated ALPN");
        seen_alpn = true;
        s = ParseAlpn(ext, out);
        break;
      case kExtSupportedVersions:
        if (seen_versions) return Malformed("repeated supported_versions");
        seen_versions = true;
        s = ParseSupportedVersions(ext, out);
        break;
      default:
        break;
    }
    if (!s.ok()) return s;
  }
  // Extensions are walked only within the hello, so running out here with `cut` means the
  // prefix ended between two extensions.
  if (cut) out->truncated = true;
  return absl::OkStatus();
}

}  // namespace

uint16_t ClientHello::MaxVersion() const {
  if (supported_versions.empty()) return legacy_version;
  return *std::max_element(supported_versions.begin(), supported_versions.end());
}

bool IsValidDnsName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxDnsNameBytes) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > kMaxDnsLabelBytes) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

absl::StatusOr<ClientHello> ParseClientHello(absl::Span<const uint8_t> prefix) {
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()),
                               std::min(prefix.size(), kMaxClassifyBytes));
  if (data.size() < kRecordHeaderBytes + 1 || !IsHandshakeRecordHeader(data) ||
      static_cast<uint8_t>(data[kRecordHeaderBytes]) != kHandshakeClientHello) {
    return absl::InvalidArgumentError("tls: not a handshake record holding a ClientHello");
  }
  ClientHello out;
  out.record_version = static_cast<uint16_t>((0x03 << 8) | static_cast<uint8_t>(data[2]));

  // The handshake bytes: the first record's fragment, continued by the following handshake
  // records when the hello is longer than one record (large key shares make that happen).
  // Assembled only in that case; at most kMaxClassifyBytes either way.
  std::string assembled;
  absl::string_view hs;
  bool cut = false;
  size_t pos = 0;
  for (bool first = true;; first = false) {
    if (data.size() - pos < kRecordHeaderBytes) {
      cut = true;
      break;
    }
    const absl::string_view header = data.substr(pos, kRecordHeaderBytes);
    if (!IsHandshakeRecordHeader(header)) {
      return absl::InvalidArgumentError("tls: ClientHello interrupted by a non-handshake record");
    }
    const size_t length = (static_cast<uint8_t>(header[3]) << 8) | static_cast<uint8_t>(header[4]);
    const absl::string_view fragment = data.substr(pos + kRecordHeaderBytes, length);
    pos += kRecordHeaderBytes + fragment.size();
    if (first) {
      hs = fragment;  // no copy unless a second record follows
    } else {
      if (assembled.empty()) assembled.assign(hs.data(), hs.size());
      assembled.append(fragment.data(), fragment.size());
      hs = assembled;
    }
    if (fragment.size() < length) {
      cut = true;
      break;
    }
    if (hs.size() >= 4) {
      const uint32_t hello_length = (static_cast<uint8_t>(hs[1]) << 16) |
                                    (static_cast<uint8_t>(hs[2]) << 8) |
                                    static_cast<uint8_t>(hs[3]);
      if (hs.size() - 4 >= hello_length) break;
    }
    if (pos == data.size()) {
      cut = true;
      break;
    }
  }

  if (hs.size() < 4) {
    out.truncated = true;
    return out;
  }
  const uint32_t hello_length = (static_cast<uint8_t>(hs[1]) << 16) |
                                (static_cast<uint8_t>(hs[2]) << 8) | static_cast<uint8_t>(hs[3]);
  if (hello_length < kMinHelloBytes) return Malformed("hello length");
  const absl::string_view body = hs.substr(4, hello_length);
  const absl::Status s =
      ParseHelloBody(body, hello_length, cut && body.size() < hello_length, &out);
  if (!s.ok()) return s;
  return out;
}

}  // namespace sluice::detect::classify
