// Sensitive values in a payload prefix (DESIGN §5, classifiers: CRM ID / email / phone / secret
// patterns, counts and keyed fingerprints only). Feeds pii_egress (CRM record ids, emails, phone
// numbers in TLS plaintext to a non-CRM peer) and token_misuse (bearer tokens and API keys sent
// to a non-CRM host).
//
// Nothing matched leaves the scanner: per kind, a count and up to kMaxFingerprintsPerKind
// distinct fingerprints, HMAC-SHA256(host key, normalized value) cut to 16 hex characters. The
// same record id or token gives the same fingerprint in every alert of a host, so alerts can be
// correlated, while nobody without the host key can test a guess against a fingerprint.
//
// Kinds and what counts as one:
//   crm_record_id  Salesforce record ids: 15 or 18 letters and digits as a whole word, starting
//                  with a known key prefix (001 Account, 003 Contact, 00Q Lead, ...), with a
//                  digit after it; an 18-character id must carry a valid checksum suffix.
//                  Normalized to the 18-character form, so both forms of a record agree.
//   email          local@domain.tld, lowercased.
//   phone          E.164 ("+14155550100", "+44 20 7946 0958") and NANP with separators
//                  ("(415) 555-0100", "415-555-0100", "415.555.0100"); a bare run of digits
//                  (timestamps, ids) is never one. Normalized to digits with the country code
//                  (NANP gets "1").
//   bearer_token   "Authorization: Bearer <token>", OAuth token fields (access_token,
//                  refresh_token, id_token) and Salesforce session ids ("00D...!...").
//   api_key        Provider keys by shape (OpenAI/Anthropic "sk-...", AWS "AKIA..."/"ASIA...",
//                  GitHub "ghp_...", Google "AIza...", Slack "xox?-...", Stripe "sk_live_...")
//                  and generic assignments (api_key=..., "apiKey": "...", x-api-key: ...,
//                  client_secret=..., aws_secret_access_key=...).
// A value counts once, under the most specific kind: an API key sent as a bearer token is an
// api_key, the org id inside a session id is not a crm_record_id.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_SENSITIVE_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_SENSITIVE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sluice::detect::classify {

inline constexpr char kSensitiveCrmRecordId[] = "crm_record_id";
inline constexpr char kSensitiveEmail[] = "email";
inline constexpr char kSensitivePhone[] = "phone";
inline constexpr char kSensitiveBearerToken[] = "bearer_token";
inline constexpr char kSensitiveApiKey[] = "api_key";

// Distinct fingerprints kept per kind.
inline constexpr size_t kMaxFingerprintsPerKind = 4;
// Values counted per kind; a kind's scan stops there (and SensitiveFindings::capped is set).
inline constexpr uint64_t kMaxSensitiveMatchesPerKind = 1024;
// Hex characters of a fingerprint (the first 8 bytes of the HMAC).
inline constexpr size_t kFingerprintHexChars = 16;

struct SensitiveKind {
  std::string kind;  // one of kSensitive*
  uint64_t count = 0;
  std::vector<std::string> fingerprints;  // distinct, in order of first appearance

  friend bool operator==(const SensitiveKind&, const SensitiveKind&) = default;
};

struct SensitiveFindings {
  // Kinds with a count, in the order crm_record_id, email, phone, bearer_token, api_key.
  std::vector<SensitiveKind> kinds;
  // CRM record ids by object type ("Contact" -> 3), from the key prefix.
  std::map<std::string, uint64_t> crm_objects;
  // Some kind reached kMaxSensitiveMatchesPerKind: its count is a lower bound.
  bool capped = false;

  bool empty() const { return kinds.empty(); }
  const SensitiveKind* Find(absl::string_view kind) const;
  uint64_t Count(absl::string_view kind) const;

  friend bool operator==(const SensitiveFindings&, const SensitiveFindings&) = default;
};

// The compiled patterns. Construction compiles them (milliseconds); Scan() is const and safe to
// call from several threads at once. Most callers use ScanSensitive(), which shares one.
class SensitiveScanner {
 public:
  SensitiveScanner();
  ~SensitiveScanner();
  SensitiveScanner(const SensitiveScanner&) = delete;
  SensitiveScanner& operator=(const SensitiveScanner&) = delete;

  // Every pattern compiled. They are constants, so false means a broken build; Scan() then
  // finds nothing rather than crash.
  bool ok() const;

  // Scans at most kMaxClassifyBytes of `prefix`. `hmac_key` keys the fingerprints (the host
  // key, agent/common/host_key.h); any length works, an empty one gives unkeyed hashes.
  SensitiveFindings Scan(absl::Span<const uint8_t> prefix, absl::string_view hmac_key) const;

 private:
  struct Patterns;
  std::unique_ptr<Patterns> patterns_;
};

// SensitiveScanner::Scan with a process-wide scanner compiled on first use.
SensitiveFindings ScanSensitive(absl::Span<const uint8_t> prefix, absl::string_view hmac_key);

// HMAC-SHA256(hmac_key, value), its first 8 bytes as 16 lower-case hex characters; "" if
// OpenSSL fails.
std::string Fingerprint(absl::string_view hmac_key, absl::string_view value);

// Salesforce ids. The 3-character checksum of a 15-character id: for each 5-character chunk,
// bit i is set when character i is an upper-case letter, and the 5-bit value indexes
// "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345". "" unless `id15` is 15 letters and digits.
std::string SalesforceIdChecksum(absl::string_view id15);
// `id18` is 18 letters and digits whose last 3 are the checksum of the first 15.
bool SalesforceIdChecksumValid(absl::string_view id18);
// The object type of a known 3-character key prefix ("003" -> "Contact"), nullptr otherwise.
const char* SalesforceObjectType(absl::string_view key_prefix);

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_SENSITIVE_H_
