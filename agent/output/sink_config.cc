#include "agent/output/sink_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/detect/rules.h"
#include "yaml-cpp/yaml.h"

namespace sluice::output {
namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  std::string At(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return file_;
    return absl::StrCat(file_, ":", m.line + 1, ":", m.column + 1);
  }
  void Error(const YAML::Node& n, const std::string& msg) {
    errors.push_back(absl::StrCat(At(n), ": ", msg));
  }

  // The keys of a map, each checked against `allowed`.
  bool CheckKeys(const YAML::Node& map, const char* what, const std::set<std::string>& allowed) {
    bool ok = true;
    for (const auto& kv : map) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!allowed.count(key)) {
        Error(kv.first, absl::StrCat("unknown key \"", key, "\" in ", what, "; allowed keys: ",
                                     absl::StrJoin(allowed, ", ")));
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> String(const YAML::Node& map, const char* key, bool required,
                                    const char* what) {
    const YAML::Node n = map[key];
    if (!n) {
      if (required) Error(map, absl::StrCat("missing required key \"", key, "\" in ", what));
      return std::nullopt;
    }
    if (!n.IsScalar() || n.Scalar().empty()) {
      Error(n, absl::StrCat(key, " must be a non-empty string"));
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<bool> Bool(const YAML::Node& map, const char* key) {
    const YAML::Node n = map[key];
    if (!n) return std::nullopt;
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
      return n.Scalar() == "true";
    }
    Error(n, absl::StrCat(key, " must be true or false"));
    return std::nullopt;
  }

  std::optional<uint64_t> Bytes(const YAML::Node& map, const char* key) {
    const YAML::Node n = map[key];
    if (!n) return std::nullopt;
    uint64_t v = 0;
    if (!n.IsScalar() || !detect::ParseByteSize(n.Scalar(), &v) || v == 0) {
      Error(n, absl::StrCat("invalid ", key, " \"", n.IsScalar() ? n.Scalar() : "",
                            "\": expected a size such as 100MiB"));
      return std::nullopt;
    }
    return v;
  }

  std::optional<uint64_t> Seconds(const YAML::Node& map, const char* key) {
    const YAML::Node n = map[key];
    if (!n) return std::nullopt;
    uint64_t v = 0;
    if (!n.IsScalar() || !detect::ParseDuration(n.Scalar(), &v) || v == 0) {
      Error(n, absl::StrCat("invalid ", key, " \"", n.IsScalar() ? n.Scalar() : "",
                            "\": expected a duration such as 30s, 1h or 1d"));
      return std::nullopt;
    }
    return v;
  }

  // A file the agent needs at start: it must be readable now, not at the first alert.
  void Readable(const YAML::Node& map, const char* key, std::string* out) {
    auto v = String(map, key, false, "");
    if (!v) return;
    std::ifstream f(*v);
    if (!f) {
      Error(map[key], absl::StrCat("cannot read ", key, " file ", *v));
      return;
    }
    *out = *v;
  }

  void Sink(const YAML::Node& n, AgentConfig* config, std::set<std::string>* names) {
    if (!n.IsMap()) {
      Error(n, "a sink must be a map with name and type");
      return;
    }
    SinkConfig sink;
    sink.where = At(n);
    auto name = String(n, "name", true, "sink");
    auto type = String(n, "type", true, "sink");
    if (name) {
      const bool valid = std::all_of(name->begin(), name->end(), [](char c) {
        return absl::ascii_islower(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
               c == '-';
      });
      if (!valid) {
        Error(n["name"], absl::StrCat("invalid sink name \"", *name,
                                      "\": use lower-case letters, digits, '_', '.' and '-'"));
      } else if (!names->insert(*name).second) {
        Error(n["name"], absl::StrCat("duplicate sink name \"", *name, "\""));
      }
      sink.name = *name;
    }
    if (!type) return;
    sink.type = *type;
    if (*type == "syslog") {
      CheckKeys(n, "syslog sink",
                {"name", "type", "host", "port", "tls", "ca", "cert", "key", "server_name",
                 "app_name", "facility"});
      SyslogOptions o;
      if (auto host = String(n, "host", true, "syslog sink")) o.host = *host;
      if (auto tls = Bool(n, "tls")) o.tls = *tls;
      o.port = o.tls ? 6514 : 514;
      if (const YAML::Node p = n["port"]) {
        uint32_t port = 0;
        if (!p.IsScalar() || !absl::SimpleAtoi(p.Scalar(), &port) || port == 0 || port > 65535) {
          Error(p, "port must be 1..65535");
        } else {
          o.port = static_cast<uint16_t>(port);
        }
      }
      Readable(n, "ca", &o.ca_file);
      Readable(n, "cert", &o.cert_file);
      Readable(n, "key", &o.key_file);
      if (auto v = String(n, "server_name", false, "")) o.server_name = *v;
      if (auto v = String(n, "app_name", false, "")) o.app_name = *v;
      if (const YAML::Node f = n["facility"]) {
        int facility = -1;
        if (!f.IsScalar() || !absl::SimpleAtoi(f.Scalar(), &facility) || facility < 0 ||
            facility > 23) {
          Error(f, "facility must be 0..23");
        } else {
          o.facility = facility;
        }
      }
      if (o.tls && o.ca_file.empty() && !n["ca"]) {
        Error(n, "a TLS syslog sink needs \"ca\": the CA that signed the server's certificate");
      }
      sink.options = std::move(o);
    } else if (*type == "splunk_hec" || *type == "webhook") {
      const bool hec = *type == "splunk_hec";
      CheckKeys(n, hec ? "splunk_hec sink" : "webhook sink",
                hec ? std::set<std::string>{"name", "type", "url", "token", "token_file", "ca",
                                            "cert", "key", "index", "sourcetype", "source", "host",
                                            "timeout"}
                    : std::set<std::string>{"name", "type", "url", "headers", "ca", "cert", "key",
                                            "timeout"});
      HttpOptions o;
      o.kind = hec ? HttpOptions::Kind::kSplunkHec : HttpOptions::Kind::kWebhook;
      if (auto url = String(n, "url", true, hec ? "splunk_hec sink" : "webhook sink")) o.url = *url;
      Readable(n, "ca", &o.ca_file);
      Readable(n, "cert", &o.cert_file);
      Readable(n, "key", &o.key_file);
      if (auto t = Seconds(n, "timeout")) o.timeout = absl::Seconds(static_cast<int64_t>(*t));
      if (hec) {
        if (n["token"] && n["token_file"]) {
          Error(n["token_file"], "give token or token_file, not both");
        } else if (auto t = String(n, "token", false, "")) {
          o.token = *t;
        } else if (auto file = String(n, "token_file", false, "")) {
          std::ifstream f(*file);
          std::stringstream ss;
          ss << f.rdbuf();
          o.token = std::string(absl::StripAsciiWhitespace(ss.str()));
          if (!f || o.token.empty()) {
            Error(n["token_file"], absl::StrCat("cannot read a token from ", *file));
          }
        } else {
          Error(n, "a splunk_hec sink needs token or token_file");
        }
        if (auto v = String(n, "index", false, "")) o.index = *v;
        if (auto v = String(n, "sourcetype", false, "")) o.sourcetype = *v;
        if (auto v = String(n, "source", false, "")) o.source = *v;
        if (auto v = String(n, "host", false, "")) o.host = *v;
      } else if (const YAML::Node h = n["headers"]) {
        if (!h.IsMap()) {
          Error(h, "headers must be a map of header names to values");
        } else {
          for (const auto& kv : h) {
            if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
              Error(kv.first, "header names and values must be strings");
              continue;
            }
            o.headers.emplace_back(kv.first.Scalar(), kv.second.Scalar());
          }
        }
      }
      sink.options = std::move(o);
    } else if (*type == "file") {
      CheckKeys(n, "file sink", {"name", "type", "path", "max_bytes", "max_age", "keep"});
      FileSinkConfig o;
      if (auto p = String(n, "path", true, "file sink")) {
        if ((*p)[0] != '/') Error(n["path"], "path must be absolute");
        o.path = *p;
      }
      if (auto b = Bytes(n, "max_bytes")) o.rotate.max_bytes = *b;
      if (auto s = Seconds(n, "max_age")) o.rotate.max_age = absl::Seconds(static_cast<int64_t>(*s));
      if (const YAML::Node k = n["keep"]) {
        int keep = 0;
        if (!k.IsScalar() || !absl::SimpleAtoi(k.Scalar(), &keep) || keep < 1 || keep > 1000) {
          Error(k, "keep must be 1..1000");
        } else {
          o.rotate.keep = keep;
        }
      }
      sink.options = std::move(o);
    } else {
      Error(n["type"], absl::StrCat("invalid sink type \"", *type,
                                    "\": expected syslog, splunk_hec, webhook or file"));
      return;
    }
    config->sinks.push_back(std::move(sink));
  }

  void Top(const YAML::Node& root, AgentConfig* config) {
    if (!root.IsMap()) {
      Error(root, "the configuration must be a map (with sinks and/or spool)");
      return;
    }
    CheckKeys(root, "configuration", {"sinks", "spool"});
    std::set<std::string> names;
    if (const YAML::Node sinks = root["sinks"]) {
      if (!sinks.IsSequence()) {
        Error(sinks, "sinks must be a list");
      } else {
        for (const YAML::Node& s : sinks) Sink(s, config, &names);
      }
    }
    if (const YAML::Node spool = root["spool"]) {
      if (!spool.IsMap()) {
        Error(spool, "spool must be a map");
      } else {
        CheckKeys(spool, "spool", {"max_bytes"});
        if (auto b = Bytes(spool, "max_bytes")) config->spool_max_bytes = *b;
      }
    }
  }

  std::vector<std::string> errors;

 private:
  std::string file_;
};

}  // namespace

bool AgentConfig::has_network_sinks() const {
  for (const SinkConfig& s : sinks) {
    if (s.type != "file") return true;
  }
  return false;
}

ConfigResult ParseAgentConfig(const std::string& yaml_text, const std::string& file_name) {
  ConfigResult r;
  Parser p(file_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports by exception; it stops here, at the module boundary.
    r.errors.push_back(absl::StrCat(file_name, ":", e.mark.line + 1, ":", e.mark.column + 1,
                                    ": ", e.msg));
    return r;
  }
  if (!root || root.IsNull()) {
    r.errors.push_back(absl::StrCat(file_name, ": the configuration is empty"));
    return r;
  }
  try {
    p.Top(root, &r.config);
  } catch (const YAML::Exception& e) {
    p.errors.push_back(absl::StrCat(file_name, ":", e.mark.line + 1, ":", e.mark.column + 1,
                                    ": ", e.msg));
  }
  r.errors = std::move(p.errors);
  if (!r.ok()) r.config = AgentConfig{};  // nothing of a half-valid configuration is used
  return r;
}

ConfigResult LoadAgentConfig(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    ConfigResult r;
    r.errors.push_back(absl::StrCat(path, ": cannot read the configuration file"));
    return r;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseAgentConfig(ss.str(), path);
}

}  // namespace sluice::output
