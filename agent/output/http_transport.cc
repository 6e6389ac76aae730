#include "agent/output/http_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "agent/output/ocsf.h"
#include "nlohmann/json.hpp"

namespace sluice::output {
namespace {

using json = nlohmann::json;

constexpr char kHecDefaultPath[] = "/services/collector/event";
// Enough for any collector's error text; a misdirected URL answering with a large page must not
// grow the agent's memory.
constexpr size_t kMaxReplyBytes = 64 * 1024;
// What of the collector's reply goes into an error message.
constexpr size_t kMaxReplyTextBytes = 300;

struct CurlEasyCleanup {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct CurlUrlCleanup {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Quote(absl::string_view s) {
  // Strings are arbitrary bytes here (hostnames from config, lines from the spool); replacing
  // invalid UTF-8 keeps the body valid JSON instead of failing the batch.
  return json(std::string(s)).dump(-1, ' ', /*ensure_ascii=*/false,
                                    json::error_handler_t::replace);
}

// One spool line as it goes into a body, and the finding's time (epoch ms, 0 = none).
struct Embedded {
  std::string text;
  int64_t time_ms = 0;
};

Embedded Embed(const std::string& line) {
  json parsed = json::parse(line, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return {Quote(line), 0};
  Embedded e;
  // Verbatim: re-serialising would reorder the OCSF object's keys and change nothing else.
  e.text = std::string(absl::StripAsciiWhitespace(line));
  if (parsed.is_object()) {
    auto it = parsed.find("time");
    if (it != parsed.end()) {
      if (it->is_number_unsigned()) {
        const uint64_t t = it->get<uint64_t>();
        if (t <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          e.time_ms = static_cast<int64_t>(t);
        }
      } else if (it->is_number_integer()) {
        e.time_ms = std::max<int64_t>(it->get<int64_t>(), 0);
      } else if (it->is_number_float()) {
        const double t = it->get<double>();
        if (std::isfinite(t) && t >= 1 && t < 9.0e18) e.time_ms = std::llround(t);
      }
    }
  }
  return e;
}

void AppendField(std::string& out, absl::string_view name, absl::string_view json_value) {
  if (out.back() != '{') out += ',';
  absl::StrAppend(&out, "\"", name, "\":", json_value);
}

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;  // libcurl never resolves it
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

// RFC 9110 token characters: what a header name may hold.
bool IsHeaderName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

// A header value that cannot break out of its line (CR/LF) or be mangled on the wire.
bool IsHeaderValue(absl::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

absl::Status CheckReadable(absl::string_view what, const std::string& path) {
  const ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": not a regular file"));
  }
  return absl::OkStatus();
}

std::optional<std::string> UrlPart(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* raw = nullptr;
  const CURLUcode rc = curl_url_get(url, part, &raw, flags);
  std::unique_ptr<char, CurlFree> owned(raw);
  if (rc != CURLUE_OK || raw == nullptr) return std::nullopt;
  return std::string(raw);
}

std::string LocalHostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// The collector's explanation for an error message: HEC's {"text":..,"code":..} (or a webhook's
// "message"/"error"), else the start of the reply as printable ASCII.
std::string CollectorText(const std::string& reply) {
  json parsed = json::parse(reply, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    for (const char* key : {"text", "message", "error"}) {
      auto it = parsed.find(key);
      if (it == parsed.end() || !it->is_string()) continue;
      std::string text = it->get<std::string>();
      auto code = parsed.find("code");
      if (code != parsed.end() && code->is_number_integer()) {
        absl::StrAppend(&text, " (code ", code->get<int64_t>(), ")");
      }
      return text;
    }
  }
  std::string text;
  bool space = false;
  for (char c : reply) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      space = !text.empty();
      continue;
    }
    if (space) text += ' ';
    space = false;
    text += c;
    if (text.size() >= kMaxReplyTextBytes) {
      text += "...";
      break;
    }
  }
  return text.empty() ? "(empty reply)" : text;
}

}  // namespace

std::string HecBody(absl::Span<const std::string> lines, const HttpOptions& options,
                    absl::string_view host) {
  std::string out;
  for (const std::string& line : lines) {
    const Embedded e = Embed(line);
    out += '{';
    if (e.time_ms > 0) {
      AppendField(out, "time", absl::StrFormat("%d.%03d", e.time_ms / 1000, e.time_ms % 1000));
    }
    if (!host.empty()) AppendField(out, "host", Quote(host));
    if (!options.source.empty()) AppendField(out, "source", Quote(options.source));
    if (!options.sourcetype.empty()) AppendField(out, "sourcetype", Quote(options.sourcetype));
    if (!options.index.empty()) AppendField(out, "index", Quote(options.index));
    AppendField(out, "event", e.text);
    out += "}\n";
  }
  return out;
}

std::string WebhookBody(absl::Span<const std::string> lines) {
  std::string out = "[";
  for (const std::string& line : lines) {
    if (out.size() > 1) out += ',';
    out += Embed(line).text;
  }
  out += ']';
  return out;
}

struct HttpTransport::State {
  HttpOptions options;
  std::string url;          // as requested, with the HEC default path filled in
  std::string description;  // Describe()
  std::string host;         // HEC event host
  std::vector<std::string> secrets;  // never to appear in a message
  std::unique_ptr<CURL, CurlEasyCleanup> curl;
  std::unique_ptr<curl_slist, CurlSlistFree> headers;
  std::array<char, CURL_ERROR_SIZE> error{};
  std::string reply;

  std::string Redact(std::string text) const {
    for (const std::string& secret : secrets) {
      if (!secret.empty()) absl::StrReplaceAll({{secret, "<redacted>"}}, &text);
    }
    return text;
  }

  absl::Status StatusForReply(long status) const {
    const std::string prefix = absl::StrCat("HTTP ", status, " from ", description, ": ");
    if (status >= 200 && status <= 299) {
      if (options.kind == HttpOptions::Kind::kWebhook) return absl::OkStatus();
      json parsed = json::parse(reply, /*cb=*/nullptr, /*allow_exceptions=*/false);
      if (parsed.is_object()) {
        auto code = parsed.find("code");
        if (code != parsed.end() && code->is_number_integer() && code->get<int64_t>() == 0) {
          return absl::OkStatus();
        }
      }
      // Not what a HEC collector says when it has the events: whether it kept them is unknown,
      // so the batch is kept and sent again.
      return absl::UnavailableError(absl::StrCat(prefix, "not a HEC success reply: ",
                                                 Redact(CollectorText(reply))));
    }
    // 401/403/404 say the sink is misconfigured (a rotated token, a moved endpoint), not that
    // these alerts are bad: they wait in the spool until the operator fixes it, loudly failing
    // meanwhile, rather than being skipped and lost.
    if (status == 401 || status == 403 || status == 404 || status == 408 || status == 429 ||
        (status >= 500 && status <= 599)) {
      return absl::UnavailableError(absl::StrCat(prefix, Redact(CollectorText(reply))));
    }
    if (status >= 400 && status <= 499) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, Redact(CollectorText(reply))));
    }
    if (status >= 300 && status <= 399) {
      // Following a redirect would hand the token and the alerts to wherever it points.
      return absl::UnavailableError(absl::StrCat(
          prefix, "redirects are not followed; point the sink at the collector's own URL"));
    }
    return absl::UnavailableError(absl::StrCat(prefix, "unexpected status"));
  }
};

HttpTransport::HttpTransport(std::unique_ptr<State> state) : state_(std::move(state)) {}

HttpTransport::~HttpTransport() = default;

std::string HttpTransport::Describe() const { return state_->description; }

absl::Status HttpTransport::Send(absl::Span<const std::string> lines) {
  if (lines.empty()) return absl::OkStatus();
  State& s = *state_;
  const std::string body = s.options.kind == HttpOptions::Kind::kSplunkHec
                               ? HecBody(lines, s.options, s.host)
                               : WebhookBody(lines);
  CURL* curl = s.curl.get();
  s.reply.clear();
  s.error[0] = '\0';
  // libcurl does not copy the body; it is used only within this perform.
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  if (rc != CURLE_OK) {
    // Connection, timeout and TLS failures, including a certificate that does not verify: the
    // records are fine, the path to the collector is not (yet).
    std::string message = absl::StrCat("POST to ", s.description, " failed: ",
                                       curl_easy_strerror(rc));
    if (s.error[0] != '\0') absl::StrAppend(&message, " (", s.error.data(), ")");
    return absl::UnavailableError(s.Redact(std::move(message)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return s.StatusForReply(status);
}

absl::StatusOr<std::unique_ptr<HttpTransport>> MakeHttpTransport(HttpOptions options) {
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("libcurl initialisation failed: ", curl_easy_strerror(global_init)));
  }
  const bool hec = options.kind == HttpOptions::Kind::kSplunkHec;
  const char* kind_name = hec ? "splunk_hec" : "webhook";

  // The URL. It is never echoed whole: it may carry user:password.
  if (options.url.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind_name, " sink: url is empty; give https://host[:port]/path"));
  }
  std::unique_ptr<CURLU, CurlUrlCleanup> url(curl_url());
  if (url == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, options.url.c_str(), 0);
      rc != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind_name, " sink: url is not a valid https:// URL (", curl_url_strerror(rc), ")"));
  }
  const std::string scheme =
      absl::AsciiStrToLower(UrlPart(url.get(), CURLUPART_SCHEME).value_or(""));
  const std::string host = UrlPart(url.get(), CURLUPART_HOST).value_or("");
  if (scheme != "https" && scheme != "http") {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, " sink: url scheme \"", scheme,
                                                   "\" is not supported; use https://"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, " sink: url has no host"));
  }
  const bool loopback = IsLoopbackHost(host);
  if (scheme == "http" && !loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind_name, " sink: http://", host,
        " refused: alerts carry customer-data fingerprints and must not cross the network in "
        "clear; use https:// (http:// is accepted only for loopback addresses)"));
  }
  std::string path = UrlPart(url.get(), CURLUPART_PATH).value_or("/");
  if (hec && (path.empty() || path == "/")) {
    path = kHecDefaultPath;
    if (curl_url_set(url.get(), CURLUPART_PATH, path.c_str(), 0) != CURLUE_OK) {
      return absl::InternalError("cannot set the HEC path");
    }
  }
  const std::string port = UrlPart(url.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT).value_or("");
  std::optional<std::string> full_url = UrlPart(url.get(), CURLUPART_URL);
  if (!full_url.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, " sink: url cannot be used"));
  }

  auto state = std::make_unique<HttpTransport::State>();
  state->url = *std::move(full_url);
  state->description = absl::StrCat(kind_name, "+", scheme, "://", host, ":", port, path);
  for (CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD}) {
    if (auto secret = UrlPart(url.get(), part); secret.has_value() && secret->size() >= 3) {
      state->secrets.push_back(*std::move(secret));
    }
  }

  // Credentials and headers.
  std::vector<std::string> header_lines = {
      "Content-Type: application/json",
      // No "100 Continue" round trip: batches are small, and some collectors never answer it,
      // which costs a second per request.
      "Expect:",
  };
  if (hec) {
    if (options.token.empty()) {
      return absl::InvalidArgumentError(
          "splunk_hec sink: token is missing (the HEC token, sent as \"Authorization: Splunk "
          "<token>\")");
    }
    if (!IsHeaderValue(options.token) ||
        absl::StripAsciiWhitespace(options.token) != options.token) {
      return absl::InvalidArgumentError(
          "splunk_hec sink: token contains characters that cannot be sent in a header");
    }
    header_lines.push_back(absl::StrCat("Authorization: Splunk ", options.token));
    state->secrets.push_back(options.token);
  } else if (!options.token.empty()) {
    return absl::InvalidArgumentError(
        "webhook sink: token is for splunk_hec; give a webhook its credentials as a header "
        "(e.g. \"Authorization: Bearer ...\")");
  }
  for (auto& [name, raw_value] : options.headers) {
    if (!IsHeaderName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind_name, " sink: header name \"", name, "\" is not valid"));
    }
    for (const char* reserved : {"Content-Type", "Content-Length", "Transfer-Encoding", "Host"}) {
      if (absl::EqualsIgnoreCase(name, reserved)) {
        return absl::InvalidArgumentError(absl::StrCat(
            kind_name, " sink: header \"", name, "\" is set by sluice and cannot be given"));
      }
    }
    if (hec && absl::EqualsIgnoreCase(name, "Authorization")) {
      return absl::InvalidArgumentError(
          "splunk_hec sink: the Authorization header comes from the token; do not give it");
    }
    const std::string value(absl::StripAsciiWhitespace(raw_value));
    if (value.empty() || !IsHeaderValue(value)) {
      // The value may be a credential: named, not shown.
      return absl::InvalidArgumentError(absl::StrCat(
          kind_name, " sink: header \"", name, "\" has an empty value or control characters"));
    }
    header_lines.push_back(absl::StrCat(name, ": ", value));
    state->secrets.push_back(value);
  }
  std::sort(state->secrets.begin(), state->secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });

  // Files, checked now so that a typo shows at startup rather than as failing deliveries.
  if (!options.ca_file.empty()) {
    if (auto s = CheckReadable("ca_file", options.ca_file); !s.ok()) return s;
  }
  if (!options.key_file.empty() && options.cert_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind_name, " sink: key_file is given without cert_file"));
  }
  if (!options.cert_file.empty()) {
    if (auto s = CheckReadable("cert_file", options.cert_file); !s.ok()) return s;
  }
  if (!options.key_file.empty()) {
    if (auto s = CheckReadable("key_file", options.key_file); !s.ok()) return s;
  }
  if (options.timeout <= absl::ZeroDuration() || options.timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind_name, " sink: timeout must be positive and finite"));
  }
  const long timeout_ms = static_cast<long>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(options.timeout), 1, std::numeric_limits<int32_t>::max()));

  state->host = options.host.empty() ? LocalHostname() : options.host;

  for (const std::string& line : header_lines) {
    curl_slist* appended = curl_slist_append(state->headers.get(), line.c_str());
    if (appended == nullptr) return absl::ResourceExhaustedError("out of memory");
    // The list's head is unchanged after the first append; only take ownership of a new one.
    if (appended != state->headers.get()) {
      (void)state->headers.release();
      state->headers.reset(appended);
    }
  }

  state->curl.reset(curl_easy_init());
  if (state->curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* curl = state->curl.get();
  const std::string user_agent = absl::StrCat("sluiced/", kSluiceVersion);
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(curl, CURLOPT_URL, state->url.c_str()));
  // Only the scheme that was validated, so no redirect or rewrite can downgrade it.
  set(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, scheme.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));  // the delivery thread is not the main one
  set(curl_easy_setopt(curl, CURLOPT_POST, 1L));
  set(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, state->headers.get()));
  set(curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str()));
  set(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
  if (!options.ca_file.empty()) {
    set(curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str()));
  }
  if (!options.cert_file.empty()) {
    set(curl_easy_setopt(curl, CURLOPT_SSLCERT, options.cert_file.c_str()));
  }
  if (!options.key_file.empty()) {
    set(curl_easy_setopt(curl, CURLOPT_SSLKEY, options.key_file.c_str()));
  }
  set(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms));
  set(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms));
  set(curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L));
  // A proxy from the environment must not see loopback traffic, which may be plain http.
  if (loopback) set(curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"));
  set(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, state->error.data()));
  set(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                       +[](char* data, size_t size, size_t count, void* user) -> size_t {
                         auto* reply = static_cast<std::string*>(user);
                         const size_t n = size * count;
                         if (reply->size() < kMaxReplyBytes) {
                           reply->append(data, std::min(n, kMaxReplyBytes - reply->size()));
                         }
                         return n;
                       }));
  set(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state->reply));
  if (rc != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat(kind_name, " sink: libcurl setup failed: ", curl_easy_strerror(rc)));
  }
  // libcurl copies string options; the ones it does not (headers, buffers) live in `state`.
  state->options = std::move(options);
  return std::make_unique<HttpTransport>(std::move(state));
}

}  // namespace sluice::output
