// TLS ClientHello parsing from a payload prefix (DESIGN §5, classifiers: TLS ClientHello + SNI).
// A ClientHello is the one TLS message that names its destination in the clear: the server name
// (SNI) and the application protocols offered (ALPN) say where a connection goes and what it will
// speak even when every later byte is encrypted. The prefix may end anywhere; what was seen is
// returned and `truncated` says the rest is unknown rather than absent.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_TLS_HELLO_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_TLS_HELLO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sluice::detect::classify {

// At most this many ALPN protocol names and supported versions are kept (browsers offer 2-3
// protocols and 2-4 versions; more is either padding or an attempt to flood the record).
inline constexpr size_t kMaxAlpnProtocols = 8;
inline constexpr size_t kMaxSupportedVersions = 8;
// Longest ALPN protocol name kept, after escaping (registered names are at most 17 bytes).
inline constexpr size_t kMaxAlpnProtocolBytes = 64;

struct ClientHello {
  // Version of the record that carried the hello (0x0301 for most clients, whatever they offer).
  uint16_t record_version = 0;
  // ClientHello.legacy_version: 0x0303 for TLS 1.2 and for TLS 1.3 (which offers itself in
  // supported_versions only).
  uint16_t legacy_version = 0;
  // supported_versions extension (RFC 8446 §4.2.1) in the client's order, GREASE values
  // (RFC 8701) left out, at most kMaxSupportedVersions.
  std::vector<uint16_t> supported_versions;

  // server_name extension (RFC 6066 §3), the host_name entry: lowercased, one trailing dot
  // removed, and only when it is a valid DNS name (letters, digits, '-', '_'; labels of 1-63
  // characters; at most 253 characters), so that no client can put arbitrary bytes into a host
  // field downstream.
  std::string sni;
  // A host_name was present but not a DNS name; it is not kept.
  bool sni_invalid = false;

  // application_layer_protocol_negotiation (RFC 7301) protocol names in the client's order,
  // bytes outside printable ASCII as %XX, each at most kMaxAlpnProtocolBytes, at most
  // kMaxAlpnProtocols of them.
  std::vector<std::string> alpn;
  // Some ALPN names were left out or cut by those bounds.
  bool alpn_truncated = false;

  // Extensions seen (whole ones; GREASE included).
  uint32_t extension_count = 0;

  // The prefix ended inside the hello (or inside its record header): fields after that point
  // are unknown, not absent.
  bool truncated = false;

  // The highest version offered: of supported_versions when present, else legacy_version.
  uint16_t MaxVersion() const;
};

// Parses a ClientHello at the start of `prefix` (a TLS record of type handshake, 0x16, whose
// first message is client_hello, type 1). A hello fragmented over several handshake records is
// put back together as far as the prefix goes. At most kMaxClassifyBytes are read.
// Errors (InvalidArgument): not a handshake record holding a ClientHello, or a hello whose
// lengths contradict one another within the bytes seen. Six bytes (record header and message
// type) are enough to be a ClientHello; everything after that may be `truncated`.
absl::StatusOr<ClientHello> ParseClientHello(absl::Span<const uint8_t> prefix);

// `name` (without a trailing dot) is a DNS name as ClientHello.sni accepts it.
bool IsValidDnsName(absl::string_view name);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_TLS_HELLO_H_
