#include "agent/detect/classify/http.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice::detect::classify {
namespace {

constexpr absl::string_view kHttp2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
// "PRI * HTTP/2.0" alone is already unambiguous: no HTTP/1 method is PRI.
constexpr size_t kHttp2PrefaceMinBytes = 14;
constexpr std::array<absl::string_view, 9> kMethods = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"};
// RFC 8446 §5.1: a record fragment is at most 2^14 bytes, plus 2048 of expansion in TLS 1.2.
constexpr uint32_t kMaxTlsRecordLength = (1u << 14) + 2048;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsOws(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 §5.6.2 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

// Appends `in` to `out`, bytes outside printable ASCII (and space) as %XX, stopping before `out`
// would exceed `max`. Returns false when something was left out.
bool AppendEscaped(absl::string_view in, size_t max, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f) {
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

// Host header value or URL authority: userinfo dropped (it is a credential), lowercased,
// escaped, bounded.
void SetHost(absl::string_view authority, PayloadClass* out) {
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
  out->host.clear();
  out->host_truncated = !AppendEscaped(authority, kMaxHostBytes, &out->host);
  absl::AsciiStrToLower(&out->host);
}

// "HTTP/" DIGIT "." DIGIT.
bool IsHttpVersion(absl::string_view v) {
  return v.size() == 8 && absl::StartsWith(v, "HTTP/") && IsDigit(v[5]) && v[6] == '.' &&
         IsDigit(v[7]);
}

// `v` could still become an HTTP version when more bytes arrive.
bool IsHttpVersionPrefix(absl::string_view v) {
  static constexpr absl::string_view kShape = "HTTP/9.9";
  if (v.size() > kShape.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    if (kShape[i] == '9' ? !IsDigit(v[i]) : v[i] != kShape[i]) return false;
  }
  return true;
}

// Splits off lines ending in LF (CRLF or bare LF). `complete` is false for the last bytes of the
// prefix when no LF follows them.
class LineReader {
 public:
  explicit LineReader(absl::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  absl::string_view Next(bool* complete) {
    const size_t nl = data_.find('\n', pos_);
    absl::string_view line;
    if (nl == absl::string_view::npos) {
      line = data_.substr(pos_);
      pos_ = data_.size();
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      *complete = false;
      return line;
    }
    line = data_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    *complete = true;
    return line;
  }
  void SkipLeadingNewlines() {
    while (pos_ < data_.size() && (data_[pos_] == '\r' || data_[pos_] == '\n')) ++pos_;
  }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

// Request target → path (without query), query length, and the authority of absolute-form and
// authority-form targets. `complete` is false when the prefix ended inside the target.
void SetTarget(absl::string_view method, absl::string_view target, bool complete,
               PayloadClass* out) {
  bool fits = true;
  if (method == "CONNECT") {
    // authority-form: "host:port"; no path or query.
    absl::string_view authority = target;
    const size_t at = authority.rfind('@');
    if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
    // A cut authority would name another host, or hold userinfo whose '@' is not in sight:
    // keep it only when whole.
    if (complete) {
      SetHost(authority, out);
      fits = AppendEscaped(authority, kMaxPathBytes, &out->path);
    }
  } else {
    const size_t end = target.find_first_of("?#");
    absl::string_view path = target.substr(0, end);
    if (end != absl::string_view::npos && target[end] == '?') {
      out->has_query = true;
      out->query_length = static_cast<uint32_t>(target.size() - end - 1);
    }
    // absolute-form (requests to a proxy): scheme "://" authority path.
    const size_t scheme_end = path.find("://");
    if (!path.empty() && path[0] != '/' && scheme_end != absl::string_view::npos &&
        scheme_end > 0 &&
        std::all_of(path.begin(), path.begin() + scheme_end, [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' ||
                 c == '.';
        })) {
      const absl::string_view scheme = path.substr(0, scheme_end + 3);
      absl::string_view rest = path.substr(scheme_end + 3);
      const size_t slash = rest.find('/');
      absl::string_view authority = rest.substr(0, slash);
      const absl::string_view abs_path =
          slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
      const size_t at = authority.rfind('@');
      if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
      // Cut by the end of the prefix, the authority may be another host or still hold
      // userinfo whose '@' is not in sight: then neither host nor path gets it.
      const bool authority_whole =
          complete || slash != absl::string_view::npos || end != absl::string_view::npos;
      if (authority_whole &&
          std::none_of(authority.begin(), authority.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
          })) {
        SetHost(authority, out);
      }
      fits = AppendEscaped(scheme, kMaxPathBytes, &out->path) && authority_whole &&
             AppendEscaped(authority, kMaxPathBytes, &out->path) &&
             AppendEscaped(abs_path, kMaxPathBytes, &out->path);
    } else {
      fits = AppendEscaped(path, kMaxPathBytes, &out->path);
    }
    // The prefix ended before '?' or '#': the path itself may go on.
    if (!complete && end == absl::string_view::npos) fits = false;
  }
  out->path_truncated = !fits || (!complete && method == "CONNECT");
}

// Parses "Content-Length: 123" values; false for anything but digits.
bool ParseContentLength(absl::string_view v, uint32_t* out) {
  if (v.empty()) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (!IsDigit(c)) return false;
    n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(c - '0'),
                           std::numeric_limits<uint32_t>::max());
  }
  *out = static_cast<uint32_t>(n);
  return true;
}

// Header lines until the empty line. Only a few are looked at; none but Host is kept.
void ParseHeaders(LineReader* lines, PayloadClass* out) {
  const bool request = out->protocol == PayloadClass::kHttp1Request;
  const bool host_from_target = !out->host.empty();
  bool host_seen = false;
  bool end_seen = false;
  while (!lines->done()) {
    bool complete = false;
    absl::string_view line = lines->Next(&complete);
    if (!complete) break;  // a header split by the end of the prefix: unknown, not absent
    if (line.empty()) {
      end_seen = true;
      break;
    }
    // obs-fold continuation (RFC 9112 §5.2, deprecated): belongs to the previous header.
    if (IsOws(line[0])) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) continue;
    const absl::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) continue;
    ++out->header_count;
    absl::string_view value = line.substr(colon + 1);
    while (!value.empty() && IsOws(value.front())) value.remove_prefix(1);
    while (!value.empty() && IsOws(value.back())) value.remove_suffix(1);
    if (value.size() > kMaxHeaderValueBytes) {
      out->header_value_truncated = true;
      value = value.substr(0, kMaxHeaderValueBytes);
    }
    if (absl::EqualsIgnoreCase(name, "host")) {
      // An absolute-form target's authority overrides Host (RFC 9112 §3.2.2); of several Host
      // headers the first is kept.
      if (request && !host_from_target && !host_seen) SetHost(value, out);
      host_seen = true;
    } else if (absl::EqualsIgnoreCase(name, "content-length")) {
      uint32_t n = 0;
      if (!ParseContentLength(value, &n)) continue;
      if (out->has_content_length && out->content_length != n) {
        out->conflicting_content_length = true;
      }
      if (!out->has_content_length) {
        out->has_content_length = true;
        out->content_length = n;
      }
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      if (absl::StrContains(absl::AsciiStrToLower(value), "chunked")) out->chunked = true;
    }
  }
  out->truncated = !end_seen;
}

// "HTTP/1.1 200 OK". A status line cut by the end of the prefix counts once "HTTP/" is there.
bool ParseStatusLine(absl::string_view line, bool complete, PayloadClass* out) {
  if (!absl::StartsWith(line, "HTTP/")) return false;
  const absl::string_view version = line.substr(0, std::min<size_t>(line.size(), 8));
  if (!IsHttpVersionPrefix(version)) return false;
  absl::string_view rest = line.substr(version.size());
  if (version.size() == 8) {
    if (!rest.empty() && rest[0] != ' ') return false;
    if (!rest.empty()) rest.remove_prefix(1);
    const absl::string_view code = rest.substr(0, std::min<size_t>(rest.size(), 3));
    if (!std::all_of(code.begin(), code.end(), IsDigit)) return false;
    if (code.size() == 3) {
      if (rest.size() > 3 && rest[3] != ' ') return false;
      out->status_code = static_cast<uint16_t>((code[0] - '0') * 100 + (code[1] - '0') * 10 +
                                               (code[2] - '0'));
    } else if (complete) {
      return false;
    }
  } else if (complete) {
    return false;
  }
  out->protocol = PayloadClass::kHttp1Response;
  if (version.size() == 8) out->version = std::string(version);
  return true;
}

// "METHOD SP request-target SP HTTP-version". The target is what lies between the first and the
// last space, so a target with raw spaces (a broken client) still parses, escaped.
bool ParseRequestLine(absl::string_view line, bool complete, PayloadClass* out) {
  const size_t sp = line.find(' ');
  if (sp == absl::string_view::npos) return false;
  const absl::string_view method = line.substr(0, sp);
  if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) return false;
  absl::string_view rest = line.substr(sp + 1);
  absl::string_view target = rest;
  absl::string_view version;
  bool version_started = false;  // the space after the target is in the prefix
  const size_t last = rest.rfind(' ');
  if (last != absl::string_view::npos) {
    const absl::string_view tail = rest.substr(last + 1);
    if (complete ? IsHttpVersion(tail) : IsHttpVersionPrefix(tail)) {
      target = rest.substr(0, last);
      version = tail;
      version_started = true;
    }
  }
  if (complete && (!version_started || target.empty())) return false;
  out->protocol = PayloadClass::kHttp1Request;
  out->method = std::string(method);
  if (IsHttpVersion(version)) out->version = std::string(version);
  // Without the space before the version the target may go on past the end of the prefix.
  SetTarget(method, target, complete || version_started, out);
  return true;
}

void ClassifyHttp1(absl::string_view data, PayloadClass* out) {
  LineReader lines(data);
  lines.SkipLeadingNewlines();  // RFC 9112 §2.2: empty lines before a request line are ignored
  if (lines.done()) return;
  bool complete = false;
  const absl::string_view first = lines.Next(&complete);
  if (!ParseStatusLine(first, complete, out) && !ParseRequestLine(first, complete, out)) {
    *out = PayloadClass();
    return;
  }
  if (!complete) {
    out->truncated = true;
    return;
  }
  ParseHeaders(&lines, out);
}

bool ClassifyTls(absl::string_view data, PayloadClass* out) {
  if (data.size() < 3) return false;
  const auto type = static_cast<uint8_t>(data[0]);
  if (type < 0x14 || type > 0x17 || data[1] != 0x03 || static_cast<uint8_t>(data[2]) > 0x04) {
    return false;
  }
  uint32_t length = 0;
  if (data.size() >= 5) {
    length = (static_cast<uint8_t>(data[3]) << 8) | static_cast<uint8_t>(data[4]);
    // Handshake and alert records are never empty (application data may be, in TLS 1.2).
    if (length > kMaxTlsRecordLength || (length == 0 && type != 0x17)) return false;
  }
  out->protocol = PayloadClass::kTlsRecord;
  out->tls_content_type = type;
  out->tls_version = static_cast<uint16_t>((0x03 << 8) | static_cast<uint8_t>(data[2]));
  if (data.size() < 5) {
    out->truncated = true;
    return true;
  }
  if (type == 0x16 && data.size() == 5) {
    out->truncated = true;  // which handshake message is unknown
  } else if (type == 0x16 && data[5] == 0x01) {
    out->tls_client_hello = true;
    // A malformed hello keeps the record classification but names no host: a server would
    // refuse it, and its lengths cannot be trusted to point at a real name.
    absl::StatusOr<ClientHello> hello = ParseClientHello(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    if (hello.ok()) {
      out->host = hello->sni;  // validated as a DNS name, at most 253 characters
      out->truncated = hello->truncated;
      out->client_hello = *std::move(hello);
    }
  }
  return true;
}

bool ClassifyHttp2Preface(absl::string_view data, PayloadClass* out) {
  if (data.size() < kHttp2PrefaceMinBytes) return false;
  const absl::string_view head = data.substr(0, std::min(data.size(), kHttp2Preface.size()));
  if (!absl::StartsWith(kHttp2Preface, head)) return false;
  out->protocol = PayloadClass::kHttp2Preface;
  out->version = "HTTP/2";
  out->truncated = head.size() < kHttp2Preface.size();
  return true;
}

}  // namespace

std::string PayloadClass::request_line() const {
  if (protocol != kHttp1Request) return "";
  if (version.empty()) return absl::StrCat(method, " ", path);
  return absl::StrCat(method, " ", path, " ", version);
}

PayloadClass ClassifyPayload(absl::Span<const uint8_t> prefix) {
  PayloadClass out;
  prefix = prefix.first(std::min(prefix.size(), kMaxClassifyBytes));
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()), prefix.size());
  if (data.empty()) return out;
  if (ClassifyTls(data, &out)) return out;
  if (ClassifyHttp2Preface(data, &out)) return out;
  ClassifyHttp1(data, &out);
  if (out.protocol != PayloadClass::kUnknown) return out;
  // AMQP before Kafka: an AMQP frame starts with 1, 2 or 3 like a Kafka size over 16 MiB, and
  // AMQP's frame-end and method checks are the stricter ones.
  if (absl::StatusOr<AmqpInfo> amqp = ParseAmqp(prefix); amqp.ok()) {
    out.protocol = PayloadClass::kAmqp;
    out.operation = amqp->Operation();
    out.truncated = amqp->truncated;
    out.amqp = *std::move(amqp);
  } else if (absl::StatusOr<KafkaRequest> kafka = ParseKafkaRequest(prefix); kafka.ok()) {
    out.protocol = PayloadClass::kKafka;
    out.operation = kafka->ApiName();
    out.truncated = kafka->truncated;
    out.kafka = *std::move(kafka);
  } else if (absl::StatusOr<RedisCommand> redis = ParseRedisCommand(prefix); redis.ok()) {
    out.protocol = PayloadClass::kRedis;
    out.operation = redis->name;
    out.truncated = redis->truncated;
    out.redis = *std::move(redis);
  }
  return out;
}

const char* ProtocolName(PayloadClass::Protocol protocol) {
  switch (protocol) {
    case PayloadClass::kUnknown:
      return "unknown";
    case PayloadClass::kHttp1Request:
      return "http1-request";
    case PayloadClass::kHttp1Response:
      return "http1-response";
    case PayloadClass::kHttp2Preface:
      return "http2-preface";
    case PayloadClass::kTlsRecord:
      return "tls-record";
    case PayloadClass::kKafka:
      return "kafka";
    case PayloadClass::kAmqp:
      return "amqp";
    case PayloadClass::kRedis:
      return "redis";
  }
  return "unknown";
}

}  // namespace sluice::detect::classify
