// Payloads for the classifier tests: real ClientHellos and builders for well-formed requests of
// each protocol, so that a test states only what it changes.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_TEST_PAYLOADS_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_TEST_PAYLOADS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sluice::detect::classify::testing {

inline absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline std::string U8(uint32_t v) { return std::string(1, static_cast<char>(v)); }
inline std::string U16(uint32_t v) { return U8(v >> 8) + U8(v); }
inline std::string U24(uint32_t v) { return U8(v >> 16) + U16(v); }
inline std::string U32(uint32_t v) { return U16(v >> 16) + U16(v); }

// `openssl s_client -servername CRM.Example.com -alpn h2,http/1.1` (OpenSSL 3.0).
inline const std::string& OpenSslHelloWithAlpn() {
  static const std::string* hello = new std::string(absl::HexStringToBytes(
      "160301014e0100014a03036535dac858a61f5105cd41bc538f813c7113591a58debb4f198f42"
      "2003b55b48206f3254d28a06b487f856e10367de37ab59134b857ed6660905dcf24f2ec421f0"
      "003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067"
      "c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000c30000001400120000"
      "0f43524d2e4578616d706c652e636f6d000b000403000102000a00160014001d0017001e0019"
      "001801000101010201030104002300000010000e000c02683208687474702f312e3100160000"
      "00170000000d002a0028040305030603080708080809080a080b080408050806040105010601"
      "030303010302040205020602002b0009080304030303020301002d0002010100330026002400"
      "1d0020ab0fe3342429afd4e92a31703dbfa7db0f13053852216b821f422ea314c6d636"));
  return *hello;
}

// `gnutls-cli --sni-hostname=vectors.example.net --alpn=h2 --alpn=http/1.1` (GnuTLS 3.7): the
// server_name extension comes next to last.
inline const std::string& GnuTlsHelloWithAlpn() {
  static const std::string* hello = new std::string(absl::HexStringToBytes(
      "160301019e0100019a03032311f6930c57489ebb723f7c510856c4709895e8bc53737da6f148"
      "0078a5c9af2006d4747d294771ff595d4f2cfcdd69fa870b904088f824b4c1b70aeee0ee14ed"
      "003a1302130313011304c02ccca9c0adc00ac02bc0acc009c030cca8c014c02fc013009dc09d"
      "0035009cc09c002f009fccaac09f0039009ec09e003301000117000500050100000000000a00"
      "160014001700180019001d001e01000101010201030104000b00020100000d00220020040108"
      "090804040308070501080a0805050308080601080b08060603020102030010000e000c026832"
      "08687474702f312e310016000000170000002300000033006b006900170041044ae13d0815e1"
      "dfd393cc55f08d926741176f2cec6e0d379a62f9cfa6d3048915326c76855f5ab9195d4d8f43"
      "af1d4098384e68069b07d88db237f3eab32f48d0001d002053f4f9703261c9eb201210c40619"
      "ba678e7cb6d19d1218bb0bee9a52b68ed360002b0009080304030303020301ff010001000000"
      "00180016000013766563746f72732e6578616d706c652e6e6574002d0003020100001c000240"
      "01"));
  return *hello;
}

using Extensions = std::vector<std::pair<uint16_t, std::string>>;

// The handshake message of a minimal TLS 1.2-style ClientHello with `extensions` in order.
inline std::string HelloMessage(const Extensions& extensions, uint16_t legacy_version = 0x0303) {
  std::string exts;
  for (const auto& [type, body] : extensions) exts += U16(type) + U16(body.size()) + body;
  std::string body = U16(legacy_version) + std::string(32, 'r') + U8(0) + U16(4) +
                     std::string("\x13\x01\xc0\x2f", 4) + U8(1) + U8(0);
  if (!extensions.empty()) body += U16(exts.size()) + exts;
  return U8(1) + U24(body.size()) + body;
}

// `message` in one handshake record, or split into records of at most `fragment` bytes.
inline std::string HandshakeRecords(absl::string_view message, size_t fragment = 1 << 14) {
  std::string out;
  for (size_t pos = 0; pos < message.size(); pos += fragment) {
    const absl::string_view part = message.substr(pos, fragment);
    out += std::string("\x16\x03\x01", 3) + U16(part.size()) + std::string(part);
  }
  return out;
}

inline std::string ClientHelloRecord(const Extensions& extensions) {
  return HandshakeRecords(HelloMessage(extensions));
}

inline std::string SniBody(absl::string_view name, uint8_t type = 0) {
  const std::string entry = U8(type) + U16(name.size()) + std::string(name);
  return U16(entry.size()) + entry;
}

inline std::string AlpnBody(const std::vector<std::string>& protocols) {
  std::string list;
  for (const std::string& p : protocols) list += U8(p.size()) + p;
  return U16(list.size()) + list;
}

inline std::string SupportedVersionsBody(const std::vector<uint16_t>& versions) {
  std::string list;
  for (uint16_t v : versions) list += U16(v);
  return U8(list.size()) + list;
}

// A Kafka request: size, header (api_key, api_version, correlation_id, client_id), `body`.
// `client_id` nullptr sends a null client id.
inline std::string KafkaRequestBytes(int16_t api_key, int16_t api_version, int32_t correlation,
                                     const char* client_id, absl::string_view body = "") {
  std::string header = U16(static_cast<uint16_t>(api_key)) +
                       U16(static_cast<uint16_t>(api_version)) +
                       U32(static_cast<uint32_t>(correlation));
  if (client_id == nullptr) {
    header += U16(0xffff);
  } else {
    header += U16(absl::string_view(client_id).size()) + client_id;
  }
  header += std::string(body);
  return U32(header.size()) + header;
}

// An AMQP 0-9-1 frame with its frame-end octet.
inline std::string AmqpFrameBytes(uint8_t type, uint16_t channel, absl::string_view payload) {
  return U8(type) + U16(channel) + U32(payload.size()) + std::string(payload) + "\xCE";
}

inline std::string AmqpMethodFrame(uint16_t channel, uint16_t class_id, uint16_t method_id,
                                   absl::string_view arguments = "") {
  return AmqpFrameBytes(1, channel, U16(class_id) + U16(method_id) + std::string(arguments));
}

inline const std::string& Amqp091Header() {
  static const std::string* h = new std::string("AMQP\x00\x00\x09\x01", 8);
  return *h;
}

// A RESP array of bulk strings, as clients send commands.
inline std::string Resp(const std::vector<std::string>& words) {
  std::string out = absl::StrCat("*", words.size(), "\r\n");
  for (const std::string& w : words) absl::StrAppend(&out, "$", w.size(), "\r\n", w, "\r\n");
  return out;
}

}  // namespace sluice::detect::classify::testing

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_TEST_PAYLOADS_H_
