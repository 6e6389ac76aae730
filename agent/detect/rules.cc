#include "agent/detect/rules.h"

#include <linux/types.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "sluice/abi.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace sluice::detect {
namespace {

namespace fs = std::filesystem;

constexpr int kSupportedVersion = 1;
// A rule file is a few KiB; the cap only keeps a wrong path (a log, an image) from being slurped.
constexpr uintmax_t kMaxRuleFileBytes = 4u << 20;
constexpr std::array<absl::string_view, 4> kBuiltinRoles = {"crm-sync", "llm-inference",
                                                            "vector-db", "admin-export"};
constexpr absl::string_view kCustomRolePrefix = "custom:";
constexpr std::array<absl::string_view, 4> kUnitSuffixes = {".service", ".scope", ".slice",
                                                            ".socket"};
// OCSF severity_id 1..6, in order.
constexpr std::array<absl::string_view, 6> kSeverityNames = {"informational", "low",      "medium",
                                                             "high",          "critical", "fatal"};
// A budget window beyond a week would keep per-destination counters for longer than any
// baseline volume_anomaly learns; the same bound as its window_s parameter.
constexpr uint64_t kMaxBudgetWindowS = 604800;
constexpr uint64_t kMaxAggregateWindowS = 86400;
constexpr size_t kMaxHostGlobLen = 253;  // the longest DNS name in text form

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string At(const SourceLocation& loc) {
  return absl::StrCat(loc.file, ":", loc.line, ":", loc.column);
}

// Workload names end up in alerts, metrics labels and file names: keep them to a safe alphabet.
bool IsValidName(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool IsValidRole(absl::string_view role) {
  if (std::find(kBuiltinRoles.begin(), kBuiltinRoles.end(), role) != kBuiltinRoles.end()) {
    return true;
  }
  return absl::StartsWith(role, kCustomRolePrefix) &&
         IsValidName(role.substr(kCustomRolePrefix.size()));
}

// A systemd unit name as it appears as a cgroup path component: the unit name alphabet of
// systemd.unit(5) (with "\" for its escapes) and one of the suffixes that own a cgroup.
bool IsValidUnit(absl::string_view unit) {
  const bool alphabet = std::all_of(unit.begin(), unit.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '.' ||
           c == '\\' || c == '@' || c == '-';
  });
  if (!alphabet) return false;
  return std::any_of(kUnitSuffixes.begin(), kUnitSuffixes.end(), [unit](absl::string_view sfx) {
    return unit.size() > sfx.size() && absl::EndsWith(unit, sfx);
  });
}

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

// Text a user meant as an address rather than a name: names never hold ':' or '/', and a name
// of digits and dots only is an IPv4 address written wrong, not a host.
bool LooksLikeAddress(absl::string_view s) {
  if (s.find(':') != absl::string_view::npos || s.find('/') != absl::string_view::npos) {
    return true;
  }
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
}

// Why `glob` (already lower-cased) is not a host glob, or "" when it is one.
std::string HostGlobProblem(absl::string_view glob) {
  if (glob.size() > kMaxHostGlobLen) {
    return absl::StrCat("longer than ", kMaxHostGlobLen, " characters");
  }
  for (char c : glob) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '*' &&
        c != '?') {
      const std::string shown = absl::ascii_isprint(static_cast<unsigned char>(c))
                                    ? std::string(1, c)
                                    : absl::StrFormat("\\x%02x", static_cast<unsigned char>(c));
      return absl::StrCat("'", shown,
                          "' is not allowed (use letters, digits, '-', '.', '*' and '?')");
    }
  }
  if (glob.back() == '.') return "remove the trailing \".\"";
  if (glob.front() == '.') {
    return absl::StrCat("a name does not start with \".\"; write \"*", glob,
                        "\" for the names under ", glob.substr(1));
  }
  if (glob.find("..") != absl::string_view::npos) return "empty label between two dots";
  return "";
}

// Decimal digits only (no sign, no spaces); values above 65535 are clamped to 65536 so that
// callers report them as out of range without overflowing.
bool ParseDecimal(absl::string_view s, int* out) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    v = std::min(v * 10 + (c - '0'), 65536);
  }
  *out = v;
  return true;
}

// Leading decimal digits of *s, consumed; false when there are none or the value overflows.
bool ConsumeUint64(absl::string_view* s, uint64_t* out) {
  size_t n = 0;
  uint64_t v = 0;
  while (n < s->size() && absl::ascii_isdigit(static_cast<unsigned char>((*s)[n]))) {
    if (__builtin_mul_overflow(v, 10, &v) ||
        __builtin_add_overflow(v, static_cast<uint64_t>((*s)[n] - '0'), &v)) {
      return false;
    }
    ++n;
  }
  if (n == 0) return false;
  s->remove_prefix(n);
  *out = v;
  return true;
}

}  // namespace

// "1048576", "500MiB", "10MB", "1 KiB": a byte count with an optional SI (powers of 1000) or IEC
// (powers of 1024) unit. No fractions: "1.5GiB" is "1536MiB".
bool ParseByteSize(absl::string_view s, uint64_t* out) {
  static constexpr std::pair<absl::string_view, uint64_t> kUnits[] = {
      {"B", 1},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"TB", uint64_t{1000} * 1000 * 1000 * 1000},
      {"KiB", uint64_t{1} << 10},
      {"MiB", uint64_t{1} << 20},
      {"GiB", uint64_t{1} << 30},
      {"TiB", uint64_t{1} << 40},
  };
  uint64_t n = 0;
  if (!ConsumeUint64(&s, &n)) return false;
  if (s.empty()) {
    *out = n;
    return true;
  }
  if (s.front() == ' ') s.remove_prefix(1);
  for (const auto& [unit, scale] : kUnits) {
    if (s == unit) return !__builtin_mul_overflow(n, scale, out);
  }
  return false;
}

// "3600" (seconds), "90s", "30m", "1h", "1d", "1h30m": a duration in seconds.
bool ParseDuration(absl::string_view s, uint64_t* out) {
  uint64_t n = 0;
  if (!ConsumeUint64(&s, &n)) return false;
  if (s.empty()) {
    *out = n;
    return true;
  }
  uint64_t total = 0;
  while (true) {
    uint64_t scale = 0;
    switch (s.empty() ? '\0' : s[0]) {
      case 's':
        scale = 1;
        break;
      case 'm':
        scale = 60;
        break;
      case 'h':
        scale = 3600;
        break;
      case 'd':
        scale = 86400;
        break;
      default:
        return false;
    }
    s.remove_prefix(1);
    if (__builtin_mul_overflow(n, scale, &n) || __builtin_add_overflow(total, n, &total)) {
      return false;
    }
    if (s.empty()) break;
    if (!ConsumeUint64(&s, &n)) return false;
  }
  *out = total;
  return true;
}

namespace {

// Integers print as integers (1000000, not 1e+06): ranges in messages read like the docs.
std::string FormatNumber(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e16) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%g", v);
}

const DetectorParamSpec* FindParamSpec(std::string_view detector, std::string_view name) {
  for (const DetectorParamSpec& spec : kDetectorParams) {
    if (detector == spec.detector && name == spec.name) return &spec;
  }
  return nullptr;
}

bool IsDetectorId(absl::string_view id) {
  return std::any_of(std::begin(kDetectorIds), std::end(kDetectorIds),
                     [id](const char* known) { return id == known; });
}

// Records where a document starts and whether its root is a bare null: see ParseText.
class DocumentProbe : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { mark_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, true); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnMapEnd() override {}

  bool null_root() const { return nodes_ == 0 || root_null_; }
  const YAML::Mark& mark() const { return mark_; }

 private:
  void Node(const YAML::Mark& mark, bool null) {
    if (nodes_++ == 0) {
      root_null_ = null;
      mark_ = mark;
    }
  }
  YAML::Mark mark_ = YAML::Mark::null_mark();
  size_t nodes_ = 0;
  bool root_null_ = false;
};

// Whether YAML text holds anything but blank lines, comments, document markers and an explicit
// null ("~", "null"): what makes a null document an empty file rather than a broken one.
bool HasContent(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const absl::string_view t = absl::StripAsciiWhitespace(line);
    if (t.empty() || t[0] == '#' || t == "---" || t == "..." || t == "~" || t == "null" ||
        t == "Null" || t == "NULL") {
      continue;
    }
    return true;
  }
  return false;
}

// Shared by the files of one load: ids, names and the workload limit span files.
struct LoadState {
  RuleSet rules;
  std::vector<RuleError> errors;
  std::map<std::string, SourceLocation> names;
  std::map<std::string, SourceLocation> class_names;
  std::map<std::string, SourceLocation> sink_names;
  std::map<std::string, SourceLocation> detector_ids;
  std::optional<SourceLocation> aggregate_window;
  // Workloads named by detector exceptions: checked once every file is read, because the
  // workload may be defined in a later file.
  std::vector<std::pair<std::string, SourceLocation>> workload_refs;
};

class FileParser {
 public:
  FileParser(std::string file, LoadState* state) : file_(std::move(file)), state_(state) {}

  // Never throws: yaml-cpp reports syntax errors (and its depth limit) as exceptions, which
  // become errors at the position they carry.
  void Parse(std::string_view text) {
    const size_t first_error = state_->errors.size();
    ParseText(text);
    // Checks run key by key (a missing key is noticed after the unknown ones): report in the
    // order of the file, which is how a user fixes them.
    std::stable_sort(state_->errors.begin() + first_error, state_->errors.end(),
                     [](const RuleError& a, const RuleError& b) {
                       return std::pair(a.loc.line, a.loc.column) <
                              std::pair(b.loc.line, b.loc.column);
                     });
  }

 private:
  void ParseText(std::string_view text) {
    try {
      // Not YAML::LoadAll: in yaml-cpp 0.7 it loops forever, allocating, on a document whose
      // root cannot be parsed (a stray ',' is enough; fixed upstream after 0.8). The documents
      // are counted through the event parser instead, stopping at the first null root.
      const std::string owned(text);
      std::stringstream events_in(owned);
      YAML::Parser parser(events_in);
      DocumentProbe first;
      const bool has_first = parser.HandleNextDocument(first);
      if (!has_first || first.null_root()) {
        if (HasContent(owned)) {
          Error(has_first ? Loc(first.mark()) : SourceLocation{file_, 1, 1},
                "invalid YAML: the document has no value (a stray ',', ']' or '}'?)");
        } else {
          Error({file_, 1, 1}, "rule file is empty: expected a map with \"version: 1\"");
        }
        return;
      }
      DocumentProbe second;
      if (parser.HandleNextDocument(second)) {
        Error(Loc(second.mark()), "a rule file holds one YAML document; found a second one");
      }
      ParseDocument(YAML::Load(owned));
    } catch (const YAML::ParserException& e) {
      Error(Loc(e.mark), absl::StrCat("invalid YAML: ", e.msg));
    } catch (const YAML::Exception& e) {
      Error(Loc(e.mark), absl::StrCat("cannot read YAML: ", e.msg));
    } catch (const std::exception& e) {
      Error({file_, 0, 0}, absl::StrCat("cannot read rules: ", e.what()));
    }
  }

  struct Field {
    YAML::Node key;
    YAML::Node value;
  };
  using Fields = std::map<std::string, Field>;

  SourceLocation Loc(const YAML::Mark& mark) const {
    if (mark.is_null()) return {file_, 1, 1};
    return {file_, mark.line + 1, mark.column + 1};
  }
  SourceLocation LocOf(const YAML::Node& node) const { return Loc(node.Mark()); }
  // A null value's mark points at whatever token follows it (often the next line): the key is
  // where the user has to look.
  SourceLocation ValueLoc(const Field& f) const {
    return f.value.IsNull() ? LocOf(f.key) : LocOf(f.value);
  }

  void Error(SourceLocation loc, std::string message) {
    state_->errors.push_back(RuleError{std::move(loc), std::move(message)});
  }

  // Returns the known keys of a map node and reports the unknown, duplicate and non-string ones.
  // yaml-cpp keeps duplicate keys as separate pairs, and a silent "last one wins" would hide a
  // second allow list or selector.
  Fields ReadMap(const YAML::Node& map, absl::string_view what,
                 absl::Span<const absl::string_view> allowed) {
    Fields fields;
    // Range-for binds each pair to a named value: it->first would refer into a temporary proxy.
    for (const auto& pair : map) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        Error(LocOf(key), absl::StrCat("keys of ", what, " must be strings, got ", KindName(key)));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        Error(LocOf(key), absl::StrCat("unknown key \"", name, "\" in ", what,
                                       "; allowed keys: ", absl::StrJoin(allowed, ", ")));
        continue;
      }
      auto [pos, inserted] = fields.emplace(name, Field{key, pair.second});
      if (!inserted) {
        Error(LocOf(key), absl::StrCat("duplicate key \"", name, "\" in ", what, " (first at line ",
                                       LocOf(pos->second.key).line, ")"));
      }
    }
    return fields;
  }

  static const Field* Find(const Fields& fields, const std::string& key) {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
  }

  std::optional<std::string> ReadString(const Field& f, absl::string_view what) {
    if (!f.value.IsScalar()) {
      Error(ValueLoc(f), absl::StrCat(what, " must be a string, got ", KindName(f.value)));
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  // A scalar that is not a plain string (a size, a duration, a severity): `expected` says what
  // kind of value the message asks for.
  std::optional<std::string> ReadScalar(const Field& f, absl::string_view what,
                                        absl::string_view expected) {
    if (!f.value.IsScalar()) {
      Error(ValueLoc(f), absl::StrCat(what, " must be ", expected, ", got ", KindName(f.value)));
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  // Whether f holds a list; reports it when not (`what` names the items for the message).
  bool IsListOrReport(const Field& f, absl::string_view what) {
    if (f.value.IsSequence()) return true;
    Error(ValueLoc(f),
          absl::StrCat(f.key.Scalar(), " must be a list of ", what, ", got ", KindName(f.value)));
    return false;
  }

  void ParseDocument(const YAML::Node& root) {
    if (!root.IsMap()) {
      Error(LocOf(root), absl::StrCat("rule file must be a map with keys version, workloads; got ",
                                      KindName(root)));
      return;
    }
    const Fields fields =
        ReadMap(root, "the rule file",
                {"version", "workloads", "files", "crm", "sinks", "detectors", "alerts"});
    if (const Field* version = Find(fields, "version")) {
      if (!CheckVersion(*version)) return;
    } else {
      // Keep going as version 1: the other errors are still worth reporting.
      Error(
          LocOf(root),
          absl::StrCat("missing required key \"version\" (use version: ", kSupportedVersion, ")"));
    }
    if (const Field* files = Find(fields, "files"); files && !files->value.IsNull()) {
      if (!files->value.IsSequence()) {
        Error(ValueLoc(*files), absl::StrCat("files must be a list, got ", KindName(files->value)));
      } else {
        for (const YAML::Node& item : files->value) ParseFileClass(item);
      }
    }
    if (const Field* f = Find(fields, "crm"); f && !f->value.IsNull()) ParseCrm(*f);
    if (const Field* f = Find(fields, "sinks"); f && !f->value.IsNull()) {
      if (IsListOrReport(*f, "sink maps")) {
        for (const YAML::Node& item : f->value) ParseSink(item);
      }
    }
    if (const Field* f = Find(fields, "detectors"); f && !f->value.IsNull()) ParseDetectors(*f);
    if (const Field* f = Find(fields, "alerts"); f && !f->value.IsNull()) ParseAlerts(*f);
    const Field* workloads = Find(fields, "workloads");
    if (workloads == nullptr || workloads->value.IsNull()) return;  // a file without workloads
    if (!workloads->value.IsSequence()) {
      Error(ValueLoc(*workloads),
            absl::StrCat("workloads must be a list, got ", KindName(workloads->value)));
      return;
    }
    for (const YAML::Node& item : workloads->value) ParseWorkload(item);
  }

  // files: [{class: inference-cache, paths: [/var/cache/llm/]}]
  void ParseFileClass(const YAML::Node& node) {
    if (!node.IsMap()) {
      Error(LocOf(node),
            absl::StrCat("file class must be a map with class and paths, got ", KindName(node)));
      return;
    }
    FileClass fc;
    fc.loc = LocOf(node);
    fc.id = static_cast<uint32_t>(state_->rules.file_classes.size() + 1);
    if (fc.id >= SLUICE_MAX_FILE_CLASSES) {
      Error(fc.loc, absl::StrCat("too many file classes: at most ", SLUICE_MAX_FILE_CLASSES - 1));
    }
    const Fields fields = ReadMap(node, "file class", {"class", "paths"});
    if (const Field* f = Find(fields, "class")) {
      if (std::optional<std::string> name = ReadString(*f, "class")) {
        if (!IsValidName(*name)) {
          Error(ValueLoc(*f), absl::StrCat("invalid file class \"", *name,
                                           "\": use letters, digits, '_', '.' and '-' only"));
        } else if (auto [pos, inserted] = state_->class_names.emplace(*name, ValueLoc(*f));
                   !inserted) {
          Error(ValueLoc(*f), absl::StrCat("duplicate file class \"", *name,
                                           "\" (first defined at ", At(pos->second), ")"));
        }
        fc.name = *name;
      }
    } else {
      Error(fc.loc, "missing required key \"class\" in file class");
    }
    const Field* paths = Find(fields, "paths");
    if (paths == nullptr) {
      Error(fc.loc, "missing required key \"paths\" in file class");
    } else if (!paths->value.IsSequence() || paths->value.size() == 0) {
      Error(ValueLoc(*paths), "paths must be a non-empty list of absolute path prefixes");
    } else {
      for (const YAML::Node& p : paths->value) {
        if (!p.IsScalar() || p.Scalar().empty()) {
          Error(LocOf(p), "path prefix must be a non-empty string");
          continue;
        }
        const std::string& path = p.Scalar();
        if (path[0] != '/') {
          Error(LocOf(p), absl::StrCat("path prefix \"", path, "\" must be absolute"));
        } else if (path.size() >= SLUICE_PATH_MAX) {
          Error(LocOf(p), absl::StrCat("path prefix is ", path.size(),
                                       " bytes; the kernel matches at most ", SLUICE_PATH_MAX - 1));
        } else if (path.find('\0') != std::string::npos || path.find("/../") != std::string::npos ||
                   absl::EndsWith(path, "/..")) {
          Error(LocOf(p), absl::StrCat("path prefix \"", path, "\" must be a plain absolute path"));
        } else {
          fc.paths.push_back(path);
        }
      }
    }
    state_->rules.file_classes.push_back(std::move(fc));
  }

  // Returns false when the rest of the file must not be read: a newer schema would only produce
  // a cascade of "unknown key" errors that hide the one that matters.
  bool CheckVersion(const Field& f) {
    int version = 0;
    if (!f.value.IsScalar() || !ParseDecimal(f.value.Scalar(), &version)) {
      Error(ValueLoc(f), absl::StrCat("version must be an integer, got ",
                                      f.value.IsScalar() ? "\"" + f.value.Scalar() + "\""
                                                         : std::string(KindName(f.value))));
      return false;
    }
    if (version != kSupportedVersion) {
      Error(ValueLoc(f), absl::StrCat("unsupported rules version ", f.value.Scalar(),
                                      " (this sluice reads version ", kSupportedVersion, ")"));
      return false;
    }
    return true;
  }

  void ParseWorkload(const YAML::Node& node) {
    const size_t index = state_->rules.workloads.size();
    if (index == kMaxWorkloads) {
      Error(LocOf(node),
            absl::StrCat("too many workloads: at most ", kMaxWorkloads,
                         " are supported (the kernel's 64-bit masks hold the live set and, "
                         "during a reload, the next one)"));
    }
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("workload must be a map, got ", KindName(node)));
      return;
    }
    Workload wl;
    wl.id = static_cast<uint32_t>(index);
    wl.loc = LocOf(node);
    const Fields fields =
        ReadMap(node, "workload",
                {"name", "role", "mode", "selector", "egress", "budgets", "quarantine"});

    if (const Field* f = Find(fields, "name")) {
      if (std::optional<std::string> name = ReadString(*f, "name")) {
        if (!IsValidName(*name)) {
          Error(ValueLoc(*f), absl::StrCat("invalid workload name \"", *name,
                                           "\": use letters, digits, '_', '.' and '-' only"));
        } else {
          auto [pos, inserted] = state_->names.emplace(*name, ValueLoc(*f));
          if (!inserted) {
            Error(ValueLoc(*f), absl::StrCat("duplicate workload name \"", *name,
                                             "\" (first defined at ", At(pos->second), ")"));
          }
        }
        wl.name = *name;
      }
    } else {
      Error(wl.loc, "missing required key \"name\" in workload");
    }

    if (const Field* f = Find(fields, "role")) {
      if (std::optional<std::string> role = ReadString(*f, "role")) {
        if (!IsValidRole(*role)) {
          Error(ValueLoc(*f),
                absl::StrCat("invalid role \"", *role, "\": expected one of ",
                             absl::StrJoin(kBuiltinRoles, ", "), " or \"custom:NAME\""));
        }
        wl.role = *role;
      }
    }

    if (const Field* f = Find(fields, "mode")) {
      if (std::optional<std::string> mode = ReadString(*f, "mode")) {
        if (*mode == "monitor") {
          wl.mode = Mode::kMonitor;
        } else if (*mode == "enforce") {
          wl.mode = Mode::kEnforce;
        } else if (*mode == "learn") {
          wl.mode = Mode::kLearn;
        } else {
          Error(ValueLoc(*f),
                absl::StrCat("invalid mode \"", *mode, "\": expected monitor, enforce or learn"));
        }
      }
    }

    if (const Field* f = Find(fields, "selector")) {
      ParseSelector(*f, &wl.selector);
    } else {
      Error(wl.loc,
            "missing required key \"selector\" in workload (needs cgroup, unit, container "
            "and/or exe)");
    }

    if (const Field* f = Find(fields, "egress")) ParseEgress(*f, &wl);

    if (const Field* f = Find(fields, "budgets"); f && !f->value.IsNull()) {
      if (IsListOrReport(*f, "budget maps")) {
        for (const YAML::Node& item : f->value) {
          if (std::optional<ByteBudget> budget = ParseBudget(item)) {
            wl.budgets.push_back(std::move(*budget));
          }
        }
      }
    }

    if (const Field* f = Find(fields, "quarantine")) ParseQuarantine(*f, &wl);

    state_->rules.workloads.push_back(std::move(wl));
  }

  void ParseQuarantine(const Field& f, Workload* wl) {
    if (f.value.IsNull()) return;
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("quarantine must be a map with on and/or allow, got ",
                                      KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "quarantine", {"on", "allow"});
    if (const Field* on = Find(fields, "on"); on != nullptr && !on->value.IsNull()) {
      if (!on->value.IsSequence()) {
        Error(ValueLoc(*on), absl::StrCat("quarantine on must be a list of detector ids, got ",
                                          KindName(on->value)));
      } else {
        for (const YAML::Node& item : on->value) {
          if (!item.IsScalar()) {
            Error(LocOf(item), absl::StrCat("detector id must be a string, got ", KindName(item)));
            continue;
          }
          const std::string id = item.Scalar();
          if (!IsDetectorId(id)) {
            Error(LocOf(item), absl::StrCat("unknown detector \"", id, "\" in quarantine on: "
                                            "expected one of ",
                                            absl::StrJoin(kDetectorIds, ", ")));
          } else if (std::find(wl->quarantine_on.begin(), wl->quarantine_on.end(), id) ==
                     wl->quarantine_on.end()) {
            wl->quarantine_on.push_back(id);
          }
        }
      }
    }
    const Field* allow = Find(fields, "allow");
    if (allow == nullptr || allow->value.IsNull()) return;
    if (!allow->value.IsSequence()) {
      Error(ValueLoc(*allow), absl::StrCat("quarantine allow must be a list, got ",
                                           KindName(allow->value)));
      return;
    }
    for (const YAML::Node& item : allow->value) {
      std::optional<EgressAllow> entry = ParseAllow(item, wl->mode);
      if (!entry) continue;
      if (entry->host_glob) {
        // Quarantine is decided in the kernel by address alone, before any DNS answer: a name
        // would leave the workload's way out open to whatever a resolver says.
        Error(entry->loc, "quarantine allow entries take \"cidr\", not \"host\": the kernel "
                          "decides a quarantine by address");
        continue;
      }
      wl->quarantine_allow.push_back(std::move(*entry));
    }
  }

  void ParseSelector(const Field& f, Selector* out) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("selector must be a map with cgroup, unit, container "
                                      "and/or exe, got ",
                                      KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "selector", {"cgroup", "unit", "container", "exe"});
    if (fields.empty()) {
      // An empty selector would match every process on the host.
      Error(LocOf(f.key), "selector is empty: it needs cgroup, unit, container and/or exe");
      return;
    }
    if (const Field* cgroup = Find(fields, "cgroup"))
      out->cgroup_glob = ParseGlob(*cgroup, "cgroup");
    if (const Field* exe = Find(fields, "exe")) out->exe_glob = ParseGlob(*exe, "exe");
    if (const Field* unit = Find(fields, "unit")) out->unit = ParseUnit(*unit);
    if (const Field* container = Find(fields, "container")) ParseContainer(*container, out);
  }

  std::optional<std::string> ParseGlob(const Field& f, absl::string_view what) {
    if (f.value.IsNull()) {
      Error(LocOf(f.key), absl::StrCat(what, " glob is empty"));
      return std::nullopt;
    }
    std::optional<std::string> glob = ReadString(f, absl::StrCat(what, " glob"));
    if (!glob) return std::nullopt;
    const SourceLocation loc = ValueLoc(f);
    if (glob->empty()) {
      Error(loc, absl::StrCat(what, " glob is empty"));
    } else if (glob->find('\0') != std::string::npos) {
      Error(loc, absl::StrCat(what, " glob contains a NUL byte"));
    } else if ((*glob)[0] != '/') {
      Error(loc, absl::StrCat(what, " glob \"", *glob, "\" must start with \"/\"",
                              what == "cgroup" ? " (paths are relative to the cgroup v2 root)"
                                               : " (an absolute executable path)"));
    } else if (glob->size() > 1 && glob->back() == '/') {
      // Paths never end with "/", so such a glob could never match anything.
      Error(loc, absl::StrCat(what, " glob \"", *glob, "\" must not end with \"/\""));
    } else {
      return glob;
    }
    return std::nullopt;
  }

  std::optional<std::string> ParseUnit(const Field& f) {
    std::optional<std::string> unit = ReadString(f, "unit");
    if (!unit) return std::nullopt;
    if (!IsValidUnit(*unit)) {
      Error(ValueLoc(f),
            absl::StrCat("invalid unit \"", *unit,
                         "\": expected a systemd unit name (letters, digits and \":_.\\@-\") "
                         "ending in .service, .scope, .slice or .socket"));
      return std::nullopt;
    }
    return unit;
  }

  // container: {id: 0123456789ab, labels: {app: crm-sync}}: id, labels or both (ANDed).
  void ParseContainer(const Field& f, Selector* out) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("container must be a map with keys id and/or labels, got ",
                                      KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "container", {"id", "labels"});
    const Field* id_field = Find(fields, "id");
    const Field* labels_field = Find(fields, "labels");
    if (id_field == nullptr && labels_field == nullptr) {
      Error(LocOf(f.key), "container needs id and/or labels");
      return;
    }
    if (id_field != nullptr) {
      std::optional<std::string> id = ReadString(*id_field, "container id");
      if (id && (id->size() < 12 || id->size() > 64 || !IsLowerHex(*id))) {
        Error(ValueLoc(*id_field),
              absl::StrCat("invalid container id \"", *id,
                           "\": expected 12 to 64 lower-case hex digits (the id or a prefix of it)"));
      } else if (id) {
        out->container_id = std::move(id);
      }
    }
    if (labels_field != nullptr) ParseContainerLabels(*labels_field, out);
  }

  void ParseContainerLabels(const Field& f, Selector* out) {
    if (!f.value.IsMap() || f.value.size() == 0) {
      Error(ValueLoc(f), absl::StrCat("labels must be a non-empty map of label names to values, "
                                      "got ", f.value.IsMap() ? "an empty map" : KindName(f.value)));
      return;
    }
    std::map<std::string, std::string> labels;
    for (const auto& pair : f.value) {
      const YAML::Node key = pair.first;
      const YAML::Node value = pair.second;
      if (!key.IsScalar() || key.Scalar().empty()) {
        Error(LocOf(key), "label names must be non-empty strings");
        continue;
      }
      if (!value.IsScalar()) {
        Error(LocOf(value), absl::StrCat("value of label \"", key.Scalar(),
                                         "\" must be a string, got ", KindName(value)));
        continue;
      }
      if (key.Scalar().size() > 4096 || value.Scalar().size() > 4096) {
        Error(LocOf(key), absl::StrCat("label \"", key.Scalar().substr(0, 64),
                                       "\" is longer than 4096 bytes"));
        continue;
      }
      if (!labels.emplace(key.Scalar(), value.Scalar()).second) {
        Error(LocOf(key), absl::StrCat("duplicate label \"", key.Scalar(), "\""));
      }
    }
    out->container_labels.assign(labels.begin(), labels.end());
  }

  void ParseEgress(const Field& f, Workload* wl) {
    if (f.value.IsNull()) return;  // "egress:" with nothing under it allows nothing
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("egress must be a map, got ", KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "egress", {"allow"});
    const Field* allow = Find(fields, "allow");
    if (allow == nullptr || allow->value.IsNull()) return;
    if (!allow->value.IsSequence()) {
      Error(ValueLoc(*allow), absl::StrCat("allow must be a list, got ", KindName(allow->value)));
      return;
    }
    for (const YAML::Node& item : allow->value) {
      if (std::optional<EgressAllow> entry = ParseAllow(item, wl->mode)) {
        wl->allow.push_back(std::move(*entry));
      }
    }
  }

  std::optional<EgressAllow> ParseAllow(const YAML::Node& node, Mode mode) {
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("allow entry must be a map, got ", KindName(node)));
      return std::nullopt;
    }
    EgressAllow entry;
    entry.loc = LocOf(node);
    bool ok = true;
    const Fields fields = ReadMap(node, "allow entry", {"cidr", "host", "ports", "tls", "comment"});
    const Field* cidr = Find(fields, "cidr");
    const Field* host = Find(fields, "host");
    if (cidr != nullptr && host != nullptr) {
      Error(LocOf(host->key),
            "allow entry has both \"cidr\" and \"host\": write one entry for each");
      ok = false;
    } else if (cidr != nullptr) {
      ok = ParseCidrField(*cidr, &entry.cidr) && ok;
    } else if (host != nullptr) {
      // In enforce mode the kernel allows the addresses DNS answers give for the name
      // (enforce::NameGrants).
      entry.host_glob = ParseHostField(*host);
      ok = entry.host_glob.has_value() && ok;
    } else {
      Error(entry.loc, "missing required key \"cidr\" or \"host\" in allow entry");
      ok = false;
    }
    if (const Field* f = Find(fields, "ports")) ok = ParsePorts(*f, &entry.ports) && ok;
    if (const Field* f = Find(fields, "tls")) {
      if (std::optional<std::string> tls = ReadString(*f, "tls")) {
        if (*tls == "required") {
          entry.tls_required = true;
        } else if (*tls != "optional") {
          Error(ValueLoc(*f),
                absl::StrCat("invalid tls \"", *tls, "\": expected required or optional"));
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    if (const Field* f = Find(fields, "comment")) {
      std::optional<std::string> comment = ReadString(*f, "comment");
      ok = comment.has_value() && ok;
      if (comment) entry.comment = *comment;
    }
    if (!ok) return std::nullopt;
    return entry;
  }

  bool ParseCidrField(const Field& f, Cidr* out) {
    std::optional<std::string> text = ReadString(f, "cidr");
    if (!text) return false;
    return ParseCidrAt(*text, ValueLoc(f), out);
  }

  bool ParseCidrAt(const std::string& text, const SourceLocation& loc, Cidr* out) {
    absl::StatusOr<Cidr> cidr = ParseCidr(text);
    if (!cidr.ok()) {
      Error(loc, std::string(cidr.status().message()));
      return false;
    }
    *out = *cidr;
    return true;
  }

  // A host glob written as `host: GLOB` (allow entries, sinks) or as an item of `crm.hosts`.
  std::optional<std::string> ParseHostField(const Field& f) {
    std::optional<std::string> text = ReadString(f, "host");
    if (!text) return std::nullopt;
    return CheckHostGlob(*text, ValueLoc(f));
  }

  // Lower-cases and validates a host glob; nullopt after reporting. DNS names compare without
  // case, so "Login.Salesforce.com" is accepted as the name it means.
  std::optional<std::string> CheckHostGlob(const std::string& text, const SourceLocation& loc) {
    if (text.empty()) {
      Error(loc, "host glob is empty");
      return std::nullopt;
    }
    if (LooksLikeAddress(text)) {
      Error(loc, absl::StrCat("host glob \"", text, "\" is an address, not a name: use cidr"));
      return std::nullopt;
    }
    std::string glob = absl::AsciiStrToLower(text);
    if (const std::string problem = HostGlobProblem(glob); !problem.empty()) {
      Error(loc, absl::StrCat("invalid host glob \"", text, "\": ", problem));
      return std::nullopt;
    }
    if (glob == "*") {
      // A peer with any name would match: that is an allow-all (or a CRM or sink everywhere)
      // hidden behind a name-shaped rule.
      Error(loc, "host glob \"*\" matches every name: name the hosts (\"*.example.com\")");
      return std::nullopt;
    }
    return glob;
  }

  // `to:` of budgets and exceptions: "*" (any destination), a CIDR, or a host glob.
  bool ParseTo(const Field& f, Destination* out) {
    std::optional<std::string> text = ReadString(f, "to");
    if (!text) return false;
    const SourceLocation loc = ValueLoc(f);
    if (*text == "*") {
      *out = Destination{};
      return true;
    }
    if (absl::StatusOr<Cidr> cidr = ParseCidr(*text); cidr.ok()) {
      out->cidr = *cidr;
      return true;
    } else if (LooksLikeAddress(*text)) {
      Error(loc, std::string(cidr.status().message()));
      return false;
    }
    out->host_glob = CheckHostGlob(*text, loc);
    return out->host_glob.has_value();
  }

  bool ParsePorts(const Field& f, std::vector<PortRange>* out) {
    // An explicit empty list is ambiguous (no port? any port?): make the user say which.
    if (!f.value.IsSequence() || f.value.size() == 0) {
      Error(ValueLoc(f), absl::StrCat("ports must be a non-empty list, got ",
                                      f.value.IsSequence() ? "an empty list" : KindName(f.value),
                                      "; omit \"ports\" to allow any port"));
      return false;
    }
    bool ok = true;
    for (const YAML::Node& item : f.value) {
      if (std::optional<PortRange> range = ParsePort(item)) {
        out->push_back(*range);
      } else {
        ok = false;
      }
    }
    return ok;
  }

  std::optional<PortRange> ParsePort(const YAML::Node& node) {
    if (!node.IsScalar()) {
      Error(LocOf(node),
            absl::StrCat("port must be a number or a \"lo-hi\" string, got ", KindName(node)));
      return std::nullopt;
    }
    const std::string& text = node.Scalar();
    const absl::string_view view(text);
    int lo = 0;
    int hi = 0;
    bool parsed = false;
    if (const size_t dash = view.find('-'); dash == absl::string_view::npos) {
      parsed = ParseDecimal(view, &lo);
      hi = lo;
    } else {
      parsed = ParseDecimal(view.substr(0, dash), &lo) && ParseDecimal(view.substr(dash + 1), &hi);
    }
    if (!parsed) {
      Error(LocOf(node), absl::StrCat("invalid port \"", text,
                                      "\": expected a number 1..65535 or a \"lo-hi\" range"));
      return std::nullopt;
    }
    if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) {
      Error(LocOf(node), absl::StrCat("invalid port \"", text, "\": ports are 1..65535"));
      return std::nullopt;
    }
    if (lo > hi) {
      Error(LocOf(node), absl::StrCat("invalid port range \"", text, "\": ", lo, " > ", hi));
      return std::nullopt;
    }
    return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
  }

  // A duration field (seconds or "30m"/"1h"/"1d"/"1h30m") within [min_s, max_s].
  std::optional<uint32_t> ParseDurationField(const Field& f, uint64_t min_s, uint64_t max_s) {
    const std::string what = f.key.Scalar();
    std::optional<std::string> text = ReadScalar(f, what, "a duration");
    if (!text) return std::nullopt;
    uint64_t seconds = 0;
    if (!ParseDuration(*text, &seconds)) {
      Error(ValueLoc(f), absl::StrCat("invalid ", what, " \"", *text,
                                      "\": expected seconds or a duration such as \"30m\", "
                                      "\"1h\", \"1d\""));
      return std::nullopt;
    }
    if (seconds < min_s || seconds > max_s) {
      Error(ValueLoc(f), absl::StrCat(what, " \"", *text, "\" is out of range: ", min_s, "..",
                                      max_s, " seconds"));
      return std::nullopt;
    }
    return static_cast<uint32_t>(seconds);
  }

  // budgets: [{to: "*.s3.amazonaws.com", bytes: 2GiB, window: 1h}]
  std::optional<ByteBudget> ParseBudget(const YAML::Node& node) {
    if (!node.IsMap()) {
      Error(LocOf(node),
            absl::StrCat("budget must be a map with to, bytes and window, got ", KindName(node)));
      return std::nullopt;
    }
    ByteBudget budget;
    budget.loc = LocOf(node);
    bool ok = true;
    const Fields fields = ReadMap(node, "budget", {"to", "bytes", "window"});
    if (const Field* f = Find(fields, "to")) {
      ok = ParseTo(*f, &budget.to) && ok;
    } else {
      Error(budget.loc, "missing required key \"to\" in budget (\"*\" for all egress)");
      ok = false;
    }
    if (const Field* f = Find(fields, "bytes")) {
      if (std::optional<std::string> text = ReadScalar(*f, "bytes", "a size")) {
        if (!ParseByteSize(*text, &budget.bytes)) {
          Error(ValueLoc(*f),
                absl::StrCat("invalid bytes \"", *text,
                             "\": expected a whole number with an optional unit: B, KB, MB, GB, "
                             "TB, KiB, MiB, GiB, TiB (\"500MiB\")"));
          ok = false;
        } else if (budget.bytes == 0) {
          Error(ValueLoc(*f), "bytes must be more than 0");
          ok = false;
        }
      } else {
        ok = false;
      }
    } else {
      Error(budget.loc, "missing required key \"bytes\" in budget");
      ok = false;
    }
    if (const Field* f = Find(fields, "window")) {
      std::optional<uint32_t> window = ParseDurationField(*f, 1, kMaxBudgetWindowS);
      if (window) budget.window_s = *window;
      ok = window.has_value() && ok;
    }
    if (!ok) return std::nullopt;
    return budget;
  }

  // crm: {hosts: [...], cidrs: [...]}; every file's entries add up.
  void ParseCrm(const Field& f) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f),
            absl::StrCat("crm must be a map with hosts and/or cidrs, got ", KindName(f.value)));
      return;
    }
    CrmEndpoints& crm = state_->rules.crm;
    if (crm.loc.line == 0) crm.loc = LocOf(f.key);
    const Fields fields = ReadMap(f.value, "crm", {"hosts", "cidrs"});
    if (const Field* hosts = Find(fields, "hosts"); hosts && !hosts->value.IsNull()) {
      if (IsListOrReport(*hosts, "host globs")) {
        for (const YAML::Node& item : hosts->value) {
          if (!item.IsScalar()) {
            Error(LocOf(item), absl::StrCat("host glob must be a string, got ", KindName(item)));
            continue;
          }
          std::optional<std::string> glob = CheckHostGlob(item.Scalar(), LocOf(item));
          if (glob && std::find(crm.host_globs.begin(), crm.host_globs.end(), *glob) ==
                          crm.host_globs.end()) {
            crm.host_globs.push_back(std::move(*glob));
          }
        }
      }
    }
    if (const Field* cidrs = Find(fields, "cidrs"); cidrs && !cidrs->value.IsNull()) {
      if (IsListOrReport(*cidrs, "CIDRs")) {
        for (const YAML::Node& item : cidrs->value) {
          if (!item.IsScalar()) {
            Error(LocOf(item), absl::StrCat("cidr must be a string, got ", KindName(item)));
            continue;
          }
          Cidr cidr;
          if (ParseCidrAt(item.Scalar(), LocOf(item), &cidr) &&
              std::find(crm.cidrs.begin(), crm.cidrs.end(), cidr) == crm.cidrs.end()) {
            crm.cidrs.push_back(cidr);
          }
        }
      }
    }
  }

  // sinks: [{name: siem, kind: siem, host: siem.example.net, ports: [6514]}]
  void ParseSink(const YAML::Node& node) {
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("sink must be a map, got ", KindName(node)));
      return;
    }
    SinkDestination sink;
    sink.loc = LocOf(node);
    bool ok = true;
    const Fields fields = ReadMap(node, "sink", {"name", "kind", "host", "cidr", "ports"});
    if (const Field* f = Find(fields, "name")) {
      if (std::optional<std::string> name = ReadString(*f, "name")) {
        if (!IsValidName(*name)) {
          Error(ValueLoc(*f), absl::StrCat("invalid sink name \"", *name,
                                           "\": use letters, digits, '_', '.' and '-' only"));
          ok = false;
        } else if (auto [pos, inserted] = state_->sink_names.emplace(*name, ValueLoc(*f));
                   !inserted) {
          Error(ValueLoc(*f), absl::StrCat("duplicate sink name \"", *name, "\" (first defined at ",
                                           At(pos->second), ")"));
          ok = false;
        }
        sink.name = *name;
      } else {
        ok = false;
      }
    } else {
      Error(sink.loc, "missing required key \"name\" in sink");
      ok = false;
    }
    if (const Field* f = Find(fields, "kind")) {
      if (std::optional<std::string> kind = ReadString(*f, "kind")) {
        if (*kind == "log") {
          sink.kind = SinkDestination::Kind::kLog;
        } else if (*kind == "siem") {
          sink.kind = SinkDestination::Kind::kSiem;
        } else {
          Error(ValueLoc(*f),
                absl::StrCat("invalid sink kind \"", *kind, "\": expected log or siem"));
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    const Field* cidr = Find(fields, "cidr");
    const Field* host = Find(fields, "host");
    if (cidr != nullptr && host != nullptr) {
      Error(LocOf(host->key), "sink has both \"cidr\" and \"host\": write one sink for each");
      ok = false;
    } else if (cidr != nullptr) {
      Cidr parsed;
      ok = ParseCidrField(*cidr, &parsed) && ok;
      sink.to.cidr = parsed;
    } else if (host != nullptr) {
      sink.to.host_glob = ParseHostField(*host);
      ok = sink.to.host_glob.has_value() && ok;
    } else {
      Error(sink.loc, "missing required key \"cidr\" or \"host\" in sink");
      ok = false;
    }
    if (const Field* f = Find(fields, "ports")) ok = ParsePorts(*f, &sink.ports) && ok;
    if (ok) state_->rules.sinks.push_back(std::move(sink));
  }

  // detectors: {cache_dump: {enabled: true, severity: high, exceptions: [...], params: {...}}}
  void ParseDetectors(const Field& f) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("detectors must be a map from detector id to settings, got ",
                                      KindName(f.value)));
      return;
    }
    for (const auto& pair : f.value) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        Error(LocOf(key), absl::StrCat("keys of detectors must be strings, got ", KindName(key)));
        continue;
      }
      const std::string& id = key.Scalar();
      if (!IsDetectorId(id)) {
        Error(LocOf(key), absl::StrCat("unknown detector \"", id,
                                       "\"; valid ids: ", absl::StrJoin(kDetectorIds, ", ")));
        continue;
      }
      // One place per detector: settings merged from several files would make each file lie
      // about what is in force.
      if (auto [pos, inserted] = state_->detector_ids.emplace(id, LocOf(key)); !inserted) {
        Error(LocOf(key), absl::StrCat("detector \"", id, "\" is configured twice (first at ",
                                       At(pos->second), ")"));
        continue;
      }
      DetectorConfig config;
      config.loc = LocOf(key);
      if (ParseDetectorConfig(id, Field{key, pair.second}, &config)) {
        state_->rules.detectors.emplace_back(id, std::move(config));
      }
    }
  }

  bool ParseDetectorConfig(const std::string& id, const Field& f, DetectorConfig* out) {
    if (f.value.IsNull()) return true;  // "cache_dump:" alone: the defaults
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("settings of detector ", id,
                                      " must be a map with enabled, severity, exceptions, "
                                      "params; got ",
                                      KindName(f.value)));
      return false;
    }
    bool ok = true;
    const Fields fields = ReadMap(f.value, absl::StrCat("detector ", id),
                                  {"enabled", "severity", "exceptions", "params"});
    if (const Field* e = Find(fields, "enabled")) {
      const std::string text = e->value.IsScalar() ? e->value.Scalar() : "";
      if (text == "true" || text == "True" || text == "TRUE") {
        out->enabled = true;
      } else if (text == "false" || text == "False" || text == "FALSE") {
        out->enabled = false;
      } else {
        Error(ValueLoc(*e), absl::StrCat("enabled must be true or false, got ",
                                         e->value.IsScalar() ? absl::StrCat("\"", text, "\"")
                                                             : std::string(KindName(e->value))));
        ok = false;
      }
    }
    if (const Field* s = Find(fields, "severity")) {
      std::optional<int> severity = ParseSeverity(*s);
      out->severity = severity;
      ok = severity.has_value() && ok;
    }
    if (const Field* e = Find(fields, "exceptions"); e && !e->value.IsNull()) {
      if (IsListOrReport(*e, "exception maps")) {
        for (const YAML::Node& item : e->value) {
          if (std::optional<DetectorException> ex = ParseException(item)) {
            out->exceptions.push_back(std::move(*ex));
          } else {
            ok = false;
          }
        }
      } else {
        ok = false;
      }
    }
    if (const Field* p = Find(fields, "params"); p && !p->value.IsNull()) {
      ok = ParseParams(id, *p, &out->params) && ok;
    }
    return ok;
  }

  std::optional<int> ParseSeverity(const Field& f) {
    std::optional<std::string> text = ReadScalar(f, "severity", "a severity name or 1..6");
    if (!text) return std::nullopt;
    for (size_t i = 0; i < kSeverityNames.size(); ++i) {
      if (*text == kSeverityNames[i]) return static_cast<int>(i + 1);
    }
    if (text->size() == 1 && (*text)[0] >= '1' && (*text)[0] <= '6') return (*text)[0] - '0';
    Error(ValueLoc(f), absl::StrCat("invalid severity \"", *text, "\": expected ",
                                    absl::StrJoin(kSeverityNames, ", "), " or 1..6"));
    return std::nullopt;
  }

  // exceptions: [{workload: admin-export, to: "*.backup.example.com", reason: "nightly backup"}]
  std::optional<DetectorException> ParseException(const YAML::Node& node) {
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("exception must be a map with workload, to and reason, got ",
                                      KindName(node)));
      return std::nullopt;
    }
    DetectorException ex;
    ex.loc = LocOf(node);
    bool ok = true;
    const Fields fields = ReadMap(node, "exception", {"workload", "to", "reason"});
    const Field* workload = Find(fields, "workload");
    const Field* to = Find(fields, "to");
    if (workload != nullptr) {
      if (std::optional<std::string> name = ReadString(*workload, "workload")) {
        if (!IsValidName(*name)) {
          Error(ValueLoc(*workload),
                absl::StrCat("invalid workload name \"", *name,
                             "\": use letters, digits, '_', '.' and '-' only"));
          ok = false;
        } else {
          state_->workload_refs.emplace_back(*name, ValueLoc(*workload));
        }
        ex.workload = *name;
      } else {
        ok = false;
      }
    }
    const bool to_ok = to == nullptr || ParseTo(*to, &ex.to);
    ok = to_ok && ok;
    // `to: "*"` is as good as no `to`: without a workload that silences every finding.
    if (workload == nullptr && to_ok && ex.to.any()) {
      Error(ex.loc,
            "exception has neither workload nor to: it would silence the detector everywhere; "
            "use enabled: false");
      ok = false;
    }
    if (const Field* r = Find(fields, "reason")) {
      std::optional<std::string> reason = ReadString(*r, "reason");
      if (reason && absl::StripAsciiWhitespace(*reason).empty()) {
        Error(ValueLoc(*r), "reason must not be empty: say why this is not a finding");
        ok = false;
      } else if (reason) {
        ex.reason = *reason;
      } else {
        ok = false;
      }
    } else {
      Error(ex.loc, "missing required key \"reason\" in exception (say why this is not a finding)");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return ex;
  }

  bool ParseParams(const std::string& id, const Field& f,
                   std::vector<std::pair<std::string, double>>* out) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f),
            absl::StrCat("params must be a map from name to number, got ", KindName(f.value)));
      return false;
    }
    std::vector<std::string> valid;
    for (const DetectorParamSpec& spec : kDetectorParams) {
      if (id == spec.detector) valid.push_back(spec.name);
    }
    bool ok = true;
    std::map<std::string, int> seen;  // name -> line
    for (const auto& pair : f.value) {
      const YAML::Node key = pair.first;
      const YAML::Node value = pair.second;
      if (!key.IsScalar()) {
        Error(LocOf(key), absl::StrCat("keys of params must be strings, got ", KindName(key)));
        ok = false;
        continue;
      }
      const std::string& name = key.Scalar();
      const DetectorParamSpec* spec = FindParamSpec(id, name);
      if (spec == nullptr) {
        Error(LocOf(key),
              valid.empty() ? absl::StrCat("detector ", id, " takes no params (got \"", name, "\")")
                            : absl::StrCat("unknown param \"", name, "\" of detector ", id,
                                           "; valid params: ", absl::StrJoin(valid, ", ")));
        ok = false;
        continue;
      }
      if (auto [pos, inserted] = seen.emplace(name, LocOf(key).line); !inserted) {
        Error(LocOf(key), absl::StrCat("duplicate key \"", name, "\" in params (first at line ",
                                       pos->second, ")"));
        ok = false;
        continue;
      }
      const Field field{key, value};
      std::optional<double> v = ParseParamValue(*spec, field);
      if (!v) {
        ok = false;
        continue;
      }
      if (*v < spec->min || *v > spec->max) {
        Error(
            ValueLoc(field),
            absl::StrCat("param ", name, " of detector ", id, " is ", FormatNumber(*v),
                         "; valid range ", FormatNumber(spec->min), "..", FormatNumber(spec->max)));
        ok = false;
        continue;
      }
      out->emplace_back(name, *v);
    }
    return ok;
  }

  // A number; byte counts also take units ("64KiB") and durations ("10m") where the name says
  // so, as the same quantities do elsewhere in the schema.
  std::optional<double> ParseParamValue(const DetectorParamSpec& spec, const Field& f) {
    const absl::string_view name = spec.name;
    if (!f.value.IsScalar()) {
      Error(ValueLoc(f),
            absl::StrCat("param ", name, " must be a number, got ", KindName(f.value)));
      return std::nullopt;
    }
    const std::string& text = f.value.Scalar();
    uint64_t n = 0;
    if (absl::EndsWith(name, "bytes") && ParseByteSize(text, &n)) return static_cast<double>(n);
    if (absl::EndsWith(name, "_s") && ParseDuration(text, &n)) return static_cast<double>(n);
    double v = 0;
    if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
      Error(ValueLoc(f), absl::StrCat("param ", name, " must be a number, got \"", text, "\""));
      return std::nullopt;
    }
    return v;
  }

  // alerts: {aggregate_window: 60s}
  void ParseAlerts(const Field& f) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f), absl::StrCat("alerts must be a map, got ", KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "alerts", {"aggregate_window"});
    const Field* window = Find(fields, "aggregate_window");
    if (window == nullptr) return;
    if (state_->aggregate_window) {
      Error(LocOf(window->key), absl::StrCat("aggregate_window is already set (first at ",
                                             At(*state_->aggregate_window), ")"));
      return;
    }
    state_->aggregate_window = LocOf(window->key);
    if (std::optional<uint32_t> s = ParseDurationField(*window, 0, kMaxAggregateWindowS)) {
      state_->rules.aggregate_window_s = *s;
    }
  }

  const std::string file_;
  LoadState* const state_;
};

// Reads a whole file; nullopt after reporting why it could not.
std::optional<std::string> ReadRuleFile(const std::string& path, LoadState* state) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kMaxRuleFileBytes) {
    state->errors.push_back({{path, 0, 0},
                             absl::StrCat("rule file is too large (", size, " bytes; at most ",
                                          kMaxRuleFileBytes, ")")});
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    state->errors.push_back({{path, 0, 0}, "cannot read rule file"});
    return std::nullopt;
  }
  return text.str();
}

bool IsRuleFileName(const std::string& name) {
  return !absl::StartsWith(name, ".") &&
         (absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml"));
}

// Lists the rule files of a directory, sorted by name; reports an unreadable or empty one.
std::vector<std::string> ListRuleFiles(const std::string& dir, LoadState* state) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    // is_regular_file follows symlinks: a Kubernetes ConfigMap mount is a directory of links.
    if (IsRuleFileName(name) && it->is_regular_file(type_ec)) names.push_back(name);
  }
  if (ec) {
    state->errors.push_back({{dir, 0, 0}, absl::StrCat("cannot list directory: ", ec.message())});
    return {};
  }
  if (names.empty()) {
    state->errors.push_back({{dir, 0, 0}, absl::StrCat("no rule files (*.yaml, *.yml) in ", dir)});
    return {};
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  paths.reserve(names.size());
  for (const std::string& name : names) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

// Checks that need the whole rule set: an exception may name a workload of a later file.
void CheckReferences(LoadState* state) {
  for (const auto& [name, loc] : state->workload_refs) {
    if (!state->names.contains(name)) {
      state->errors.push_back({loc, absl::StrCat("exception names workload \"", name,
                                                 "\", which no rule file of the set defines")});
    }
  }
}

// `files` are the rule files in load order: errors are reported file by file in that order,
// each file's by position, including those CheckReferences added at the end.
LoadResult Finish(LoadState state, const std::vector<std::string>& files) {
  CheckReferences(&state);
  auto rank = [&files](const RuleError& e) {
    const auto it = std::find(files.begin(), files.end(), e.loc.file);
    return it == files.end() ? -1 : static_cast<int>(it - files.begin());
  };
  std::stable_sort(state.errors.begin(), state.errors.end(),
                   [&rank](const RuleError& a, const RuleError& b) {
                     return std::tuple(rank(a), a.loc.line, a.loc.column) <
                            std::tuple(rank(b), b.loc.line, b.loc.column);
                   });
  LoadResult result;
  result.errors = std::move(state.errors);
  // Never half a rule set: a caller that ignored ok() must still get nothing to enforce.
  if (result.errors.empty()) result.rules = std::move(state.rules);
  return result;
}

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kMonitor:
      return "monitor";
    case Mode::kEnforce:
      return "enforce";
    case Mode::kLearn:
      return "learn";
  }
  return "unknown";
}

std::string RuleError::ToString() const {
  if (loc.line <= 0) return absl::StrCat(loc.file, ": ", message);
  return absl::StrCat(loc.file, ":", loc.line, ":", loc.column, ": ", message);
}

LoadResult ParseRules(std::string_view yaml_text, const std::string& file_name) {
  LoadState state;
  try {
    FileParser(file_name, &state).Parse(yaml_text);
    state.rules.files.push_back(file_name);
  } catch (const std::exception& e) {  // allocation failure: report, never throw
    state.errors.push_back({{file_name, 0, 0}, absl::StrCat("cannot load rules: ", e.what())});
  }
  return Finish(std::move(state), {file_name});
}

LoadResult LoadRules(const std::string& path) {
  LoadState state;
  std::vector<std::string> files;
  try {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      state.errors.push_back(
          {{path, 0, 0},
           absl::StrCat("cannot open: ", ec ? ec.message() : "No such file or directory")});
    } else if (fs::is_directory(status)) {
      files = ListRuleFiles(path, &state);
    } else if (fs::is_regular_file(status)) {
      files.push_back(path);
    } else {
      // A FIFO or a device would block or never end.
      state.errors.push_back({{path, 0, 0}, "not a regular file or a directory"});
    }
    for (const std::string& file : files) {
      if (std::optional<std::string> text = ReadRuleFile(file, &state)) {
        FileParser(file, &state).Parse(*text);
        state.rules.files.push_back(file);
      }
    }
  } catch (const std::exception& e) {
    state.errors.push_back({{path, 0, 0}, absl::StrCat("cannot load rules: ", e.what())});
  }
  return Finish(std::move(state), files);
}

void KeepFileClassIds(const RuleSet& previous, RuleSet* next) {
  std::map<std::string, uint32_t> old_ids;
  for (const FileClass& c : previous.file_classes) old_ids[c.name] = c.id;
  std::array<bool, SLUICE_MAX_FILE_CLASSES> taken{};   // by the classes of `next`
  std::array<bool, SLUICE_MAX_FILE_CLASSES> recent{};  // by the classes of `previous`
  taken[0] = true;
  for (const FileClass& c : previous.file_classes) {
    if (c.id < recent.size()) recent[c.id] = true;
  }
  std::vector<FileClass*> fresh;
  for (FileClass& c : next->file_classes) {
    auto it = old_ids.find(c.name);
    if (it != old_ids.end() && it->second < taken.size() && !taken[it->second]) {
      c.id = it->second;
      taken[c.id] = true;
    } else {
      fresh.push_back(&c);
    }
  }
  // A new class takes an id no class had before when one is left (a record of a removed class
  // still in flight is then not named after the new one), else any free id.
  for (FileClass* c : fresh) {
    uint32_t pick = 0;
    for (uint32_t id = 1; id < taken.size() && pick == 0; ++id) {
      if (!taken[id] && !recent[id]) pick = id;
    }
    for (uint32_t id = 1; id < taken.size() && pick == 0; ++id) {
      if (!taken[id]) pick = id;
    }
    c->id = pick;  // LoadRules caps the count, so there is always one
    taken[pick] = true;
  }
}

const DetectorConfig* RuleSet::Detector(std::string_view id) const {
  for (const auto& [name, config] : detectors) {
    if (name == id) return &config;
  }
  return nullptr;
}

double RuleSet::Param(std::string_view id, std::string_view name) const {
  const DetectorParamSpec* spec = FindParamSpec(id, name);
  if (spec == nullptr) {
    // A detector asking for a parameter the schema does not know is a programming error, and
    // a made-up default could silently change what it reports: stop in every build type.
    fprintf(stderr, "sluice: detector %.*s asked for unknown param %.*s\n",
            static_cast<int>(id.size()), id.data(), static_cast<int>(name.size()), name.data());
    std::abort();
  }
  if (const DetectorConfig* config = Detector(id)) {
    for (const auto& [param, value] : config->params) {
      if (param == name) return value;
    }
  }
  return spec->default_value;
}

}  // namespace sluice::detect
