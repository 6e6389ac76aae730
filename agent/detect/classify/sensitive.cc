#include "agent/detect/classify/sensitive.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <climits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/detect/classify/limits.h"
#include "re2/re2.h"

namespace sluice::detect::classify {
namespace {

constexpr char kChecksumAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
constexpr size_t kIdBodyBytes = 15;

struct KeyPrefix {
  const char* prefix;
  const char* type;
};
// Standard objects' key prefixes (the first three characters of every record id of the type).
// Custom objects ("a0X...") vary per org and are left out: without a known prefix a 15-letter
// word is too likely to be something else.
// clang-format off
constexpr KeyPrefix kKeyPrefixes[] = {
    {"001", "Account"},         {"002", "Note"},
    {"003", "Contact"},         {"005", "User"},
    {"006", "Opportunity"},     {"00D", "Organization"},
    {"00O", "Report"},          {"00P", "Attachment"},
    {"00Q", "Lead"},            {"00T", "Task"},
    {"00U", "Event"},           {"00k", "OpportunityLineItem"},
    {"00v", "CampaignMember"},  {"015", "Document"},
    {"01Z", "Dashboard"},       {"01s", "Pricebook"},
    {"01t", "Product"},         {"01u", "PricebookEntry"},
    {"02i", "Asset"},           {"02s", "EmailMessage"},
    {"068", "ContentVersion"},  {"069", "ContentDocument"},
    {"0Q0", "Quote"},           {"0WO", "WorkOrder"},
    {"500", "Case"},            {"701", "Campaign"},
    {"800", "Contract"},        {"801", "Order"},
    {"802", "OrderItem"},
};
// clang-format on

// Top-level domains that are really file extensions: "icon@2x.png" is an asset name.
constexpr absl::string_view kFileExtensions[] = {"png",  "jpg", "jpeg", "gif",  "svg",
                                                 "webp", "ico", "bmp",  "tiff", "css",
                                                 "js",   "map", "json", "html", "txt"};

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }
bool IsWordChar(char c) { return IsAlnum(c) || c == '_'; }

std::string CrmIdPattern() {
  std::vector<absl::string_view> prefixes;
  for (const KeyPrefix& k : kKeyPrefixes) prefixes.push_back(k.prefix);
  return absl::StrCat(R"(\b(?:)", absl::StrJoin(prefixes, "|"),
                      R"()[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b)");
}

RE2::Options PatternOptions() {
  RE2::Options o;
  // Payloads are bytes, not UTF-8: Latin-1 makes every byte one character, so no input is
  // invalid and no multi-byte sequence can hide a match boundary.
  o.set_encoding(RE2::Options::EncodingLatin1);
  o.set_log_errors(false);
  return o;
}

// Calls fn(begin, end, groups) for each match of `re` in `data`, left to right, without
// overlap, until fn returns false.
template <typename Fn>
void ForEachMatch(const RE2& re, absl::string_view data, Fn fn) {
  std::array<re2::StringPiece, 2> groups;
  const int n = std::min<int>(1 + re.NumberOfCapturingGroups(), groups.size());
  const re2::StringPiece text(data.data(), data.size());
  size_t pos = 0;
  while (pos < data.size()) {
    if (!re.Match(text, pos, data.size(), RE2::UNANCHORED, groups.data(), n)) return;
    const size_t begin = static_cast<size_t>(groups[0].data() - data.data());
    const size_t end = begin + groups[0].size();
    if (!fn(begin, end, groups)) return;
    pos = std::max(end, begin + 1);
  }
}

// Byte ranges already counted under a more specific kind.
class Claims {
 public:
  explicit Claims(size_t n) : claimed_(n, false) {}
  bool Overlaps(size_t begin, size_t end) const {
    return std::any_of(claimed_.begin() + begin, claimed_.begin() + end, [](bool b) { return b; });
  }
  void Claim(size_t begin, size_t end) {
    std::fill(claimed_.begin() + begin, claimed_.begin() + end, true);
  }

 private:
  std::vector<bool> claimed_;
};

// One kind's count and distinct fingerprints. The normalized values of the fingerprints taken
// so far are held only while the scan runs, to tell a repeat from a new value without an HMAC
// per match, and are wiped when it ends.
class Accumulator {
 public:
  Accumulator(const char* kind, absl::string_view key) : key_(key) { out_.kind = kind; }
  ~Accumulator() {
    for (std::string& v : seen_) OPENSSL_cleanse(v.data(), v.size());
  }
  Accumulator(const Accumulator&) = delete;
  Accumulator& operator=(const Accumulator&) = delete;

  bool full() const { return out_.count >= kMaxSensitiveMatchesPerKind; }

  void Add(std::string normalized) {
    ++out_.count;
    if (out_.fingerprints.size() < kMaxFingerprintsPerKind &&
        std::find(seen_.begin(), seen_.end(), normalized) == seen_.end()) {
      std::string fp = Fingerprint(key_, normalized);
      if (!fp.empty()) out_.fingerprints.push_back(std::move(fp));
      seen_.push_back(std::move(normalized));
      return;
    }
    OPENSSL_cleanse(normalized.data(), normalized.size());
  }

  void AppendTo(SensitiveFindings* findings) {
    if (out_.count > 0) findings->kinds.push_back(std::move(out_));
  }

 private:
  absl::string_view key_;
  SensitiveKind out_;
  std::vector<std::string> seen_;
};

// Length of the longest phone number in E.164 form at the start of `s` (which starts "+"):
// 8-15 digits, single separators (space, '.', '-') between them, at most one parenthesised
// group of 1-4 digits ("+1 (415) 555-0100"), and no letter, digit or '_' right after it. 0 when
// there is none. Reads at most a few dozen bytes: a 16th digit or a second separator in a row
// ends the walk.
size_t E164Length(absl::string_view s) {
  size_t digits = 0, best = 0, paren_digits = 0;
  bool in_paren = false, used_paren = false;
  char prev = '+';
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDigit(c)) {
      if (++digits > 15) break;
      if (in_paren) ++paren_digits;
      const bool ends_here = i + 1 == s.size() || !IsWordChar(s[i + 1]);
      if (!in_paren && digits >= 8 && ends_here) best = i + 1;
    } else if (c == '(') {
      if (used_paren || prev == '+') break;
      in_paren = used_paren = true;
    } else if (c == ')') {
      if (!in_paren || paren_digits == 0 || paren_digits > 4) break;
      in_paren = false;
    } else if (c == ' ' || c == '.' || c == '-') {
      if (in_paren || !(IsDigit(prev) || prev == ')')) break;
    } else {
      break;
    }
    prev = c;
  }
  return best;
}

std::string DigitsOf(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (IsDigit(c)) out.push_back(c);
  }
  return out;
}

// local@domain.tld as mail systems accept it, beyond the pattern's shape.
bool IsPlausibleEmail(absl::string_view m) {
  const size_t at = m.find('@');
  const absl::string_view local = m.substr(0, at);
  const absl::string_view domain = m.substr(at + 1);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') {
    return false;
  }
  if (domain.size() > 253) return false;
  const size_t last_dot = domain.rfind('.');
  const absl::string_view tld = domain.substr(last_dot + 1);
  if (tld.size() < 2 || tld.size() > 24 || !std::all_of(tld.begin(), tld.end(), [](char c) {
        return absl::ascii_isalpha(static_cast<unsigned char>(c));
      })) {
    return false;
  }
  const std::string lower_tld = absl::AsciiStrToLower(tld);
  if (std::find(std::begin(kFileExtensions), std::end(kFileExtensions), lower_tld) !=
      std::end(kFileExtensions)) {
    return false;
  }
  size_t label_start = 0;
  while (label_start <= domain.size()) {
    size_t dot = domain.find('.', label_start);
    if (dot == absl::string_view::npos) dot = domain.size();
    const absl::string_view label = domain.substr(label_start, dot - label_start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    label_start = dot + 1;
  }
  return true;
}

}  // namespace

struct SensitiveScanner::Patterns {
  explicit Patterns(const RE2::Options& o)
      : api_key_shape(
            "sk-[A-Za-z0-9_-]{20,}"
            "|(?:AKIA|ASIA)[0-9A-Z]{16}"
            "|gh[pousr]_[A-Za-z0-9]{36,}"
            "|github_pat_[A-Za-z0-9_]{22,}"
            "|AIza[0-9A-Za-z_-]{35}"
            "|xox[abprs]-[A-Za-z0-9-]{10,}"
            "|[rs]k_live_[A-Za-z0-9]{16,}",
            o),
        session_id(R"(00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?![A-Za-z0-9._]{16,})", o),
        bearer_header(
            R"((?i)authorization["']?[ \t]*[:=][ \t]*["']?bearer[ \t]+([A-Za-z0-9_.~+/=!-]{8,}))",
            o),
        token_field(
            R"((?i)(?:access|refresh|id)_token["']?[ \t]*[:=][ \t]*["']?)"
            R"(([A-Za-z0-9_.~+/=!-]{16,}))",
            o),
        api_key_assignment(
            R"((?i)(?:api[_-]?key|client[_-]?secret|secret[_-]?access[_-]?key)["']?[ \t]*[:=])"
            R"([ \t]*["']?([A-Za-z0-9_.~+/=-]{16,}))",
            o),
        crm_id(CrmIdPattern(), o),
        email(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", o),
        e164(R"(\+[1-9])", o),  // a candidate only: E164Length() decides
        nanp(R"((?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4})", o) {}

  bool ok() const {
    for (const RE2* re : {&api_key_shape, &session_id, &bearer_header, &token_field,
                          &api_key_assignment, &crm_id, &email, &e164, &nanp}) {
      // ForEachMatch asks for at most one capturing group.
      if (!re->ok() || re->NumberOfCapturingGroups() > 1) return false;
    }
    return true;
  }

  RE2 api_key_shape;
  RE2 session_id;
  RE2 bearer_header;
  RE2 token_field;
  RE2 api_key_assignment;
  RE2 crm_id;
  RE2 email;
  RE2 e164;
  RE2 nanp;
};

SensitiveScanner::SensitiveScanner() : patterns_(std::make_unique<Patterns>(PatternOptions())) {}
SensitiveScanner::~SensitiveScanner() = default;

bool SensitiveScanner::ok() const { return patterns_->ok(); }

SensitiveFindings SensitiveScanner::Scan(absl::Span<const uint8_t> prefix,
                                         absl::string_view hmac_key) const {
  SensitiveFindings out;
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()),
                               std::min(prefix.size(), kMaxClassifyBytes));
  if (data.empty() || !ok()) return out;
  const Patterns& p = *patterns_;
  Claims claims(data.size());
  Accumulator crm(kSensitiveCrmRecordId, hmac_key), email(kSensitiveEmail, hmac_key),
      phone(kSensitivePhone, hmac_key), bearer(kSensitiveBearerToken, hmac_key),
      api_key(kSensitiveApiKey, hmac_key);
  auto at = [&](size_t i) { return i < data.size() ? data[i] : '\0'; };
  auto before = [&](size_t i) { return i > 0 ? data[i - 1] : '\0'; };
  // Counts one value: false (stop this pattern) once the kind is full.
  auto take = [&](Accumulator& acc, size_t begin, size_t end, std::string normalized) {
    if (acc.full()) {
      out.capped = true;
      OPENSSL_cleanse(normalized.data(), normalized.size());
      return false;
    }
    claims.Claim(begin, end);
    acc.Add(std::move(normalized));
    return true;
  };

  // Most specific first: a range counted under one kind is not counted again under another.
  ForEachMatch(p.api_key_shape, data, [&](size_t b, size_t e, const auto&) {
    const char prev = before(b);
    if (IsAlnum(prev) || prev == '_' || prev == '-' || IsAlnum(at(e)) || at(e) == '_' ||
        at(e) == '-') {
      return true;
    }
    return take(api_key, b, e, std::string(data.substr(b, e - b)));
  });
  ForEachMatch(p.session_id, data, [&](size_t b, size_t e, const auto&) {
    if (IsWordChar(before(b)) || claims.Overlaps(b, e)) return true;
    return take(bearer, b, e, std::string(data.substr(b, e - b)));
  });
  for (const RE2* re : {&p.bearer_header, &p.token_field}) {
    ForEachMatch(*re, data, [&](size_t, size_t, const auto& g) {
      const size_t b = static_cast<size_t>(g[1].data() - data.data());
      const size_t e = b + g[1].size();
      if (claims.Overlaps(b, e)) return true;
      return take(bearer, b, e, std::string(data.substr(b, e - b)));
    });
  }
  ForEachMatch(p.api_key_assignment, data, [&](size_t, size_t, const auto& g) {
    const size_t b = static_cast<size_t>(g[1].data() - data.data());
    const size_t e = b + g[1].size();
    if (claims.Overlaps(b, e)) return true;
    return take(api_key, b, e, std::string(data.substr(b, e - b)));
  });

  ForEachMatch(p.crm_id, data, [&](size_t b, size_t e, const auto&) {
    const absl::string_view id = data.substr(b, e - b);
    // "00D...!..." is a session id (counted above when long enough); the org id in it is not
    // a record.
    if (at(e) == '!' || claims.Overlaps(b, e)) return true;
    const absl::string_view body = id.substr(3, kIdBodyBytes - 3);
    if (std::none_of(body.begin(), body.end(), IsDigit)) return true;
    if (id.size() == 18 && !SalesforceIdChecksumValid(id)) return true;
    std::string id18(id.substr(0, kIdBodyBytes));
    absl::StrAppend(&id18, SalesforceIdChecksum(id18));
    if (!take(crm, b, e, std::move(id18))) return false;
    if (const char* type = SalesforceObjectType(id.substr(0, 3))) ++out.crm_objects[type];
    return true;
  });
  ForEachMatch(p.email, data, [&](size_t b, size_t e, const auto&) {
    const absl::string_view m = data.substr(b, e - b);
    if (!IsPlausibleEmail(m) || claims.Overlaps(b, e)) return true;
    return take(email, b, e, absl::AsciiStrToLower(m));
  });
  ForEachMatch(p.e164, data, [&](size_t b, size_t, const auto&) {
    const char prev = before(b);
    if (IsWordChar(prev) || prev == '+' || prev == '/') return true;
    const size_t length = E164Length(data.substr(b));
    if (length == 0 || claims.Overlaps(b, b + length)) return true;
    return take(phone, b, b + length, DigitsOf(data.substr(b, length)));
  });
  ForEachMatch(p.nanp, data, [&](size_t b, size_t e, const auto&) {
    const char prev = before(b);
    if (IsWordChar(prev) || prev == '+') return true;
    // "1-415-555-0100": a trunk prefix is fine, other digits joined to the number by its own
    // kind of separator make it part of a longer run (a date, a serial number, "12 415 555
    // 0100"). A number in parentheses or after a different separator stands on its own.
    const char own_separator = data[b] == '(' ? '\0' : data[b + 3];
    if (prev == own_separator && b >= 2 && IsDigit(data[b - 2]) &&
        (data[b - 2] != '1' || (b >= 3 && IsWordChar(data[b - 3])))) {
      return true;
    }
    const char next = at(e);
    if (IsWordChar(next) || ((next == '-' || next == '.') && IsDigit(at(e + 1)))) return true;
    if (claims.Overlaps(b, e)) return true;
    return take(phone, b, e, absl::StrCat("1", DigitsOf(data.substr(b, e - b))));
  });

  crm.AppendTo(&out);
  email.AppendTo(&out);
  phone.AppendTo(&out);
  bearer.AppendTo(&out);
  api_key.AppendTo(&out);
  return out;
}

SensitiveFindings ScanSensitive(absl::Span<const uint8_t> prefix, absl::string_view hmac_key) {
  // Compiled once, on first use; never destroyed, so no scan can race an exit-time destructor.
  static const SensitiveScanner* const scanner = new SensitiveScanner();
  return scanner->Scan(prefix, hmac_key);
}

const SensitiveKind* SensitiveFindings::Find(absl::string_view kind) const {
  for (const SensitiveKind& k : kinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

uint64_t SensitiveFindings::Count(absl::string_view kind) const {
  const SensitiveKind* k = Find(kind);
  return k == nullptr ? 0 : k->count;
}

std::string Fingerprint(absl::string_view hmac_key, absl::string_view value) {
  static const unsigned char kNoKey = 0;
  if (hmac_key.size() > static_cast<size_t>(INT_MAX)) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // OpenSSL wants a non-null key pointer even for an empty key.
  const void* key = hmac_key.empty() ? static_cast<const void*>(&kNoKey) : hmac_key.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(hmac_key.size()),
           reinterpret_cast<const unsigned char*>(value.data()), value.size(), md,
           &md_len) == nullptr ||
      md_len < kFingerprintHexChars / 2) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), kFingerprintHexChars / 2));
}

std::string SalesforceIdChecksum(absl::string_view id15) {
  if (id15.size() != kIdBodyBytes || !std::all_of(id15.begin(), id15.end(), IsAlnum)) return "";
  std::string out;
  for (size_t chunk = 0; chunk < 3; ++chunk) {
    int bits = 0;
    for (size_t i = 0; i < 5; ++i) {
      if (absl::ascii_isupper(static_cast<unsigned char>(id15[chunk * 5 + i]))) bits |= 1 << i;
    }
    out.push_back(kChecksumAlphabet[bits]);
  }
  return out;
}

bool SalesforceIdChecksumValid(absl::string_view id18) {
  if (id18.size() != kIdBodyBytes + 3) return false;
  const std::string checksum = SalesforceIdChecksum(id18.substr(0, kIdBodyBytes));
  return !checksum.empty() && id18.substr(kIdBodyBytes) == checksum;
}

const char* SalesforceObjectType(absl::string_view key_prefix) {
  for (const KeyPrefix& k : kKeyPrefixes) {
    if (key_prefix == k.prefix) return k.type;
  }
  return nullptr;
}

}  // namespace sluice::detect::classify
