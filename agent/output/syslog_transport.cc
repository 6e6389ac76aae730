#include "agent/output/syslog_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace sluice::output {

using json = nlohmann::json;

void SslCtxFree::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }
void SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }

namespace {

constexpr absl::string_view kNil = "-";
// RFC 5424 6.2: the longest HOSTNAME, APP-NAME and MSGID.
constexpr size_t kMaxHostname = 255;
constexpr size_t kMaxAppName = 48;
constexpr size_t kMaxMsgId = 32;
// 10000-01-01T00:00:00Z: RFC 3339 has four-digit years only.
constexpr int64_t kEndOfYear9999Ms = 253402300800000;
// The IANA private enterprise number of the SD-ID (RFC 5424 7.2.2).
constexpr absl::string_view kSdId = "sluice@32473";

bool IsPrintUsAscii(char c) { return c >= 33 && c <= 126; }

bool IsHeaderToken(absl::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), IsPrintUsAscii);
}

// A header field as RFC 5424 allows it: printable US-ASCII, no spaces, at most `max` octets.
// Detector ids and host names come from configuration, so they are made to fit rather than
// trusted to.
std::string HeaderField(absl::string_view value, size_t max) {
  if (value.empty()) return std::string(kNil);
  std::string out(value.substr(0, max));
  for (char& c : out) {
    if (!IsPrintUsAscii(c)) c = '_';
  }
  return out;
}

const json* Member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const std::string* StringAt(const json& root, std::initializer_list<const char*> path) {
  const json* node = &root;
  for (const char* key : path) {
    node = Member(*node, key);
    if (node == nullptr) return nullptr;
  }
  return node->is_string() ? node->get_ptr<const std::string*>() : nullptr;
}

// RFC 5424 6.2.1 severity for an OCSF severity_id.
int SyslogSeverity(const json& finding) {
  const json* id = Member(finding, "severity_id");
  if (id == nullptr || !id->is_number_integer()) return 4;
  if (id->is_number_unsigned() && id->get<uint64_t>() > 6) return 4;
  switch (id->get<int64_t>()) {
    case 6:  // Fatal
    case 5:  // Critical
      return 2;
    case 4:  // High
      return 3;
    case 3:  // Medium
      return 4;
    case 2:  // Low
      return 5;
    case 1:  // Informational
      return 6;
    default:  // Unknown, Other
      return 4;
  }
}

std::string Timestamp(const json& finding) {
  const json* time = Member(finding, "time");
  if (time == nullptr || !time->is_number_integer()) return std::string(kNil);
  if (time->is_number_unsigned() && time->get<uint64_t>() >= kEndOfYear9999Ms) {
    return std::string(kNil);
  }
  const int64_t ms = time->get<int64_t>();
  if (ms < 0 || ms >= kEndOfYear9999Ms) return std::string(kNil);
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

void AppendParam(std::string& sd, absl::string_view name, absl::string_view value) {
  absl::StrAppend(&sd, " ", name, "=\"");
  for (char c : value) {
    if (c == '"' || c == '\\' || c == ']') sd.push_back('\\');
    sd.push_back(c);
  }
  sd.push_back('"');
}

std::string StructuredData(const json& finding) {
  const std::string* uid = StringAt(finding, {"finding_info", "uid"});
  const std::string* disposition = StringAt(finding, {"disposition"});
  if (uid == nullptr && disposition == nullptr) return std::string(kNil);
  std::string sd = absl::StrCat("[", kSdId);
  if (uid != nullptr) AppendParam(sd, "uid", *uid);
  if (disposition != nullptr) AppendParam(sd, "disposition", *disposition);
  sd.push_back(']');
  return sd;
}

std::string ErrnoString(int err) { return strerror(err); }

// Everything on this thread's OpenSSL error queue, oldest first, and empties it.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    const char* reason = ERR_reason_error_string(e);
    if (reason == nullptr) {
      ERR_error_string_n(e, buf, sizeof(buf));
      reason = buf;
    }
    absl::StrAppend(&out, out.empty() ? "" : "; ", reason);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// Why an SSL call failed, from SSL_get_error's answer; `err` is the errno after the call.
std::string SslFailure(int ssl_error, int err) {
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return "peer closed the TLS session";
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() != 0) return OpenSslErrors();
      return err != 0 ? ErrnoString(err) : "connection closed by peer";
    default:
      return OpenSslErrors();
  }
}

bool IsIpLiteral(const std::string& name) {
  in6_addr addr;
  return inet_pton(AF_INET, name.c_str(), &addr) == 1 ||
         inet_pton(AF_INET6, name.c_str(), &addr) == 1;
}

// poll(2) on one fd until `deadline`: the revents, 0 on timeout, -1 (errno set) on error.
int PollUntil(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    const int64_t ms =
        std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                            0, INT_MAX);
    pollfd p = {fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return p.revents;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

// The socket under the TLS session. OpenSSL's own socket BIO writes with write(2), which raises
// SIGPIPE when the receiver has reset the connection; this one sends with MSG_NOSIGNAL so the
// agent does not depend on how the process disposes of SIGPIPE. The fd is borrowed: the
// transport's UniqueFd owns it.
int SocketOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

int SocketBioWrite(BIO* bio, const char* data, int len) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = send(SocketOf(bio), data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

int SocketBioRead(BIO* bio, char* out, int len) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = recv(SocketOf(bio), out, static_cast<size_t>(len), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  } else if (n == 0) {
    // Lets OpenSSL tell an EOF without close_notify from other failures.
    BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
  }
  return static_cast<int>(n);
}

long SocketBioCtrl(BIO* bio, int cmd, long /*num*/, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // writes are not buffered here
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_C_GET_FD:
      if (ptr != nullptr) *static_cast<int*>(ptr) = SocketOf(bio);
      return SocketOf(bio);
    default:
      return 0;
  }
}

const BIO_METHOD* SocketBioMethod() {
  // Made once and kept for the life of the process, like OpenSSL's built-in methods.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, SocketBioWrite);
      BIO_meth_set_read(m, SocketBioRead);
      BIO_meth_set_ctrl(m, SocketBioCtrl);
    }
    return m;
  }();
  return method;
}

// Never prompt on a terminal for a key's passphrase: the agent runs unattended, and an encrypted
// key fails to load with a clear error instead.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

struct AddrinfoFree {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

std::string AddressString(const addrinfo* ai) {
  char host[NI_MAXHOST] = {};
  char port[NI_MAXSERV] = {};
  if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return ai->ai_family == AF_INET6 ? absl::StrCat("[", host, "]:", port)
                                   : absl::StrCat(host, ":", port);
}

// A non-blocking connect to one address, bounded by `deadline`: "" or why it failed.
std::string ConnectOne(int fd, const addrinfo* ai, absl::Time deadline) {
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return "";
  if (errno != EINPROGRESS && errno != EINTR) return ErrnoString(errno);
  const int revents = PollUntil(fd, POLLOUT, deadline);
  if (revents == 0) return "connect timed out";
  if (revents < 0) return ErrnoString(errno);
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return ErrnoString(errno);
  return err == 0 ? "" : ErrnoString(err);
}

absl::Status FileReadable(const char* field, const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: ", field, " ", path, ": ", ErrnoString(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ssl_ctx_st, SslCtxFree>> MakeTlsContext(
    const SyslogOptions& options) {
  ERR_clear_error();
  std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("syslog: TLS context: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Partial writes let one batch go out record by record under the io_timeout progress rule;
  // a retried SSL_write may then point into the same buffer at a different address.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_default_passwd_cb(ctx.get(), NoPassphrase);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);

  if (absl::Status s = FileReadable("ca_file", options.ca_file); !s.ok()) return s;
  if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: ca_file ", options.ca_file, ": ", OpenSslErrors()));
  }
  if (!options.cert_file.empty()) {
    if (absl::Status s = FileReadable("cert_file", options.cert_file); !s.ok()) return s;
    if (absl::Status s = FileReadable("key_file", options.key_file); !s.ok()) return s;
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("syslog: cert_file ", options.cert_file, ": ", OpenSslErrors()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("syslog: key_file ", options.key_file, ": ", OpenSslErrors()));
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("syslog: key_file ", options.key_file,
                                                     " does not match cert_file ",
                                                     options.cert_file));
    }
  }
  return ctx;
}

absl::Status ValidateOptions(const SyslogOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError("syslog: host is empty");
  if (o.port == 0) return absl::InvalidArgumentError("syslog: port must be 1 to 65535");
  if (o.facility < 0 || o.facility > 23) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: facility ", o.facility, " is not in 0..23"));
  }
  if (!IsHeaderToken(o.app_name, kMaxAppName)) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: app_name \"", o.app_name,
                     "\" must be 1 to 48 printable US-ASCII characters without spaces"));
  }
  if (!o.hostname.empty() && !IsHeaderToken(o.hostname, kMaxHostname)) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: hostname \"", o.hostname,
                     "\" must be 1 to 255 printable US-ASCII characters without spaces"));
  }
  if (o.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("syslog: connect_timeout must be positive");
  }
  if (o.io_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("syslog: io_timeout must be positive");
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError(
        "syslog: cert_file and key_file go together (a client certificate needs its key)");
  }
  if (o.tls) {
    if (o.ca_file.empty()) {
      return absl::InvalidArgumentError(
          "syslog: TLS needs ca_file, the CA bundle that verifies the server's certificate");
    }
  } else if (!o.ca_file.empty() || !o.cert_file.empty() || !o.server_name.empty()) {
    // Most likely TLS was meant: sending alerts in the clear instead would be a silent downgrade.
    return absl::InvalidArgumentError(
        "syslog: ca_file, cert_file, key_file and server_name apply to TLS only, and tls is off");
  }
  return absl::OkStatus();
}

std::string LocalHostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

}  // namespace

std::string FormatRfc5424(absl::string_view ocsf_line, const SyslogOptions& options,
                          absl::string_view hostname, uint32_t procid) {
  json finding = json::parse(ocsf_line.begin(), ocsf_line.end(), /*cb=*/nullptr,
                             /*allow_exceptions=*/false);
  // Not a JSON object: the line still goes out, with NILVALUEs for what it would have given.
  if (finding.is_discarded() || !finding.is_object()) finding = json::object();

  const int pri = options.facility * 8 + SyslogSeverity(finding);
  const std::string* detector = StringAt(finding, {"finding_info", "analytic", "name"});
  std::string out = absl::StrCat(
      "<", pri, ">1 ", Timestamp(finding), " ", HeaderField(hostname, kMaxHostname), " ",
      HeaderField(options.app_name, kMaxAppName), " ", procid, " ",
      HeaderField(detector != nullptr ? *detector : "", kMaxMsgId), " ",
      StructuredData(finding));
  if (!ocsf_line.empty()) absl::StrAppend(&out, " ", ocsf_line);
  return out;
}

absl::StatusOr<std::unique_ptr<SyslogTransport>> MakeSyslogTransport(SyslogOptions options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx;
  if (options.tls) {
    auto made = MakeTlsContext(options);
    if (!made.ok()) return made.status();
    ctx = *std::move(made);
  }
  std::string hostname = options.hostname.empty() ? LocalHostname() : options.hostname;
  return std::make_unique<SyslogTransport>(SyslogTransport::Key(), std::move(options),
                                           std::move(hostname), std::move(ctx));
}

SyslogTransport::SyslogTransport(Key, SyslogOptions options, std::string hostname,
                                 std::unique_ptr<ssl_ctx_st, SslCtxFree> ctx)
    : options_(std::move(options)),
      hostname_(std::move(hostname)),
      procid_(static_cast<uint32_t>(getpid())),
      ctx_(std::move(ctx)) {}

SyslogTransport::~SyslogTransport() {
  if (ssl_ != nullptr) {
    // Best effort, without waiting: tells the receiver the session ended on purpose.
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
  Close();
}

std::string SyslogTransport::Describe() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return absl::StrCat(options_.tls ? "syslog+tls://" : "syslog+tcp://", v6 ? "[" : "",
                      options_.host, v6 ? "]" : "", ":", options_.port);
}

void SyslogTransport::Close() {
  ssl_.reset();
  fd_.reset();
}

absl::Status SyslogTransport::Fail(absl::string_view what) {
  Close();
  return absl::UnavailableError(absl::StrCat(Describe(), ": ", what));
}

absl::Status SyslogTransport::Send(absl::Span<const std::string> lines) {
  if (lines.empty()) return absl::OkStatus();
  // A receiver that restarted since the last batch left a closed socket behind; writing into it
  // would succeed locally and lose the batch, so it is replaced before anything is written.
  std::string why;
  if (fd_.valid() && !PeerAlive(&why)) Close();
  if (!fd_.valid()) {
    if (absl::Status s = Connect(); !s.ok()) return s;
  }
  std::string out;
  for (const std::string& line : lines) {
    const std::string message = FormatRfc5424(line, options_, hostname_, procid_);
    absl::StrAppend(&out, message.size(), " ", message);
  }
  if (absl::Status s = WriteAll(out); !s.ok()) return s;
  return AwaitAcknowledged();
}

absl::Status SyslogTransport::Confirm() {
  if (!fd_.valid()) return absl::UnavailableError(absl::StrCat(Describe(), ": not connected"));
  std::string why;
  if (!PeerAlive(&why)) return Fail(why);
  return absl::OkStatus();
}

absl::Status SyslogTransport::Connect() {
  const absl::Time deadline = absl::Now() + options_.connect_timeout;
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc =
      getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &found);
  if (rc != 0) {
    return Fail(absl::StrCat("cannot resolve ", options_.host, ": ",
                             rc == EAI_SYSTEM ? ErrnoString(errno) : gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, AddrinfoFree> addresses(found);
  int left = 0;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) ++left;

  std::string failures;
  for (const addrinfo* ai = found; ai != nullptr && !fd_.valid(); ai = ai->ai_next, --left) {
    // Each address gets its share of what is left, so one that drops packets does not use up
    // the time of those after it.
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      absl::StrAppend(&failures, failures.empty() ? "" : "; ", "connect timed out");
      break;
    }
    const absl::Time attempt_deadline = now + (deadline - now) / left;
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
    std::string error = fd.valid() ? ConnectOne(fd.get(), ai, attempt_deadline)
                                   : ErrnoString(errno);
    if (error.empty()) {
      fd_ = std::move(fd);
    } else {
      absl::StrAppend(&failures, failures.empty() ? "" : "; ", AddressString(ai), ": ", error);
    }
  }
  if (!fd_.valid()) return Fail(absl::StrCat("cannot connect: ", failures));
  // Every batch ends by waiting for the receiver's acknowledgement; Nagle would hold the last
  // segment back for the acknowledgement of the one before.
  const int one = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ++connection_;
  if (ctx_ != nullptr) return Handshake(deadline);
  return absl::OkStatus();
}

absl::Status SyslogTransport::Handshake(absl::Time deadline) {
  ERR_clear_error();
  ssl_.reset(SSL_new(ctx_.get()));
  if (ssl_ == nullptr) return Fail(absl::StrCat("TLS session: ", OpenSslErrors()));
  const BIO_METHOD* method = SocketBioMethod();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) return Fail(absl::StrCat("TLS socket: ", OpenSslErrors()));
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd_.get())));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // the session owns the BIO from here on

  const std::string& name = options_.server_name.empty() ? options_.host : options_.server_name;
  if (IsIpLiteral(name)) {
    // An address is checked against the certificate's IP SANs; SNI carries host names only
    // (RFC 6066 3).
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), name.c_str()) != 1) {
      return Fail(absl::StrCat("TLS: cannot verify against address ", name));
    }
  } else {
    SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl_.get(), name.c_str()) != 1 ||
        SSL_set1_host(ssl_.get(), name.c_str()) != 1) {
      return Fail(absl::StrCat("TLS: cannot verify against name ", name, ": ", OpenSslErrors()));
    }
  }
  SSL_set_connect_state(ssl_.get());
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(ssl_.get());
    if (r == 1) return absl::OkStatus();
    const int err = errno;
    const int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      const int revents =
          PollUntil(fd_.get(), e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
      if (revents == 0) return Fail("TLS handshake timed out");
      if (revents < 0) return Fail(absl::StrCat("TLS handshake: ", ErrnoString(errno)));
      continue;
    }
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return Fail(absl::StrCat("TLS handshake: certificate verification failed: ",
                               X509_verify_cert_error_string(verify)));
    }
    return Fail(absl::StrCat("TLS handshake: ", SslFailure(e, err)));
  }
}

bool SyslogTransport::PeerAlive(std::string* why) {
  pollfd p = {fd_.get(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return true;  // nothing pending (or nothing poll could tell)
  if (p.revents & POLLNVAL) {
    *why = "socket closed";
    return false;
  }
  // A syslog receiver sends nothing but TLS session messages, and anything else is dropped; at
  // most this many reads, so a talkative peer cannot hold the sender here.
  constexpr int kMaxReads = 64;
  char buf[4096];
  for (int i = 0; i < kMaxReads; ++i) {
    if (ssl_ == nullptr) {
      const ssize_t got = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (got > 0) continue;
      if (got == 0) {
        *why = "peer closed the connection";
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      *why = ErrnoString(errno);
      return false;
    }
    ERR_clear_error();
    errno = 0;
    size_t got = 0;
    if (SSL_read_ex(ssl_.get(), buf, sizeof(buf), &got) == 1) continue;
    const int err = errno;
    const int e = SSL_get_error(ssl_.get(), 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    *why = SslFailure(e, err);
    return false;
  }
  return true;
}

absl::Status SyslogTransport::WriteAll(absl::string_view data) {
  size_t done = 0;
  absl::Time deadline = absl::Now() + options_.io_timeout;
  while (done < data.size()) {
    short wait_for = POLLOUT;
    if (ssl_ == nullptr) {
      const ssize_t n = send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        deadline = absl::Now() + options_.io_timeout;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        return Fail(absl::StrCat("write: ", n == 0 ? "no progress" : ErrnoString(errno)));
      }
    } else {
      ERR_clear_error();
      errno = 0;
      size_t n = 0;
      const int r = SSL_write_ex(ssl_.get(), data.data() + done, data.size() - done, &n);
      if (r == 1) {
        done += n;
        deadline = absl::Now() + options_.io_timeout;
        continue;
      }
      const int err = errno;
      const int e = SSL_get_error(ssl_.get(), r);
      if (e == SSL_ERROR_WANT_READ) {
        wait_for = POLLIN;
      } else if (e != SSL_ERROR_WANT_WRITE) {
        return Fail(absl::StrCat("TLS write: ", SslFailure(e, err)));
      }
    }
    const int revents = PollUntil(fd_.get(), wait_for, deadline);
    if (revents == 0) {
      return Fail(absl::StrCat("write timed out after ", absl::FormatDuration(options_.io_timeout),
                               " (", done, " of ", data.size(), " bytes written)"));
    }
    if (revents < 0) return Fail(absl::StrCat("write: ", ErrnoString(errno)));
    // Errors and hang-ups show in the next write's result.
  }
  return absl::OkStatus();
}

absl::Status SyslogTransport::AwaitAcknowledged() {
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  absl::Duration step = absl::Milliseconds(1);
  for (;;) {
    int unacked = 0;
    // SIOCOUTQ counts what the kernel has not sent or the receiver has not acknowledged. Where
    // it cannot tell, written is the most that is known.
    if (ioctl(fd_.get(), SIOCOUTQ, &unacked) != 0 || unacked == 0) return absl::OkStatus();
    std::string why;
    if (!PeerAlive(&why)) {
      return Fail(absl::StrCat(why, " with ", unacked, " bytes unacknowledged"));
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return Fail(absl::StrCat("receiver did not acknowledge ", unacked, " bytes within ",
                               absl::FormatDuration(options_.io_timeout)));
    }
    // There is no poll event for "all acknowledged": wake on data, close or reset, else recheck
    // at growing intervals.
    PollUntil(fd_.get(), POLLIN, std::min(deadline, now + step));
    step = std::min(step * 2, absl::Milliseconds(50));
  }
}

}  // namespace sluice::output
