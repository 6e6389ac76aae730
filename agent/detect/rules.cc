#include "agent/detect/rules.h"

#include <linux/types.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "sluice/abi.h"
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

// Shared by the files of one load: ids, names and the workload limit span files.
struct LoadState {
  RuleSet rules;
  std::vector<RuleError> errors;
  std::map<std::string, SourceLocation> names;
  std::map<std::string, SourceLocation> class_names;
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
      std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
      if (docs.empty() || docs[0].IsNull()) {
        Error({file_, 1, 1}, "rule file is empty: expected a map with \"version: 1\"");
        return;
      }
      if (docs.size() > 1) {
        Error(LocOf(docs[1]), "a rule file holds one YAML document; found a second one");
      }
      ParseDocument(docs[0]);
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
                 std::initializer_list<absl::string_view> allowed) {
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

  void ParseDocument(const YAML::Node& root) {
    if (!root.IsMap()) {
      Error(LocOf(root), absl::StrCat("rule file must be a map with keys version, workloads; got ",
                                      KindName(root)));
      return;
    }
    const Fields fields = ReadMap(root, "the rule file", {"version", "workloads", "files"});
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
      Error(LocOf(node), absl::StrCat("file class must be a map with class and paths, got ",
                                      KindName(node)));
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
          Error(ValueLoc(*f), absl::StrCat("duplicate file class \"", *name, "\" (first defined at ",
                                           pos->second.file, ":", pos->second.line, ":",
                                           pos->second.column, ")"));
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
          Error(LocOf(p), absl::StrCat("path prefix is ", path.size(), " bytes; the kernel matches at most ",
                                       SLUICE_PATH_MAX - 1));
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
    if (index == SLUICE_MAX_WORKLOADS) {
      Error(LocOf(node), absl::StrCat("too many workloads: at most ", SLUICE_MAX_WORKLOADS,
                                      " are supported (ids are bits of a 64-bit kernel mask)"));
    }
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("workload must be a map, got ", KindName(node)));
      return;
    }
    Workload wl;
    wl.id = static_cast<uint32_t>(index);
    wl.loc = LocOf(node);
    const Fields fields = ReadMap(node, "workload", {"name", "role", "mode", "selector", "egress"});

    if (const Field* f = Find(fields, "name")) {
      if (std::optional<std::string> name = ReadString(*f, "name")) {
        if (!IsValidName(*name)) {
          Error(ValueLoc(*f), absl::StrCat("invalid workload name \"", *name,
                                           "\": use letters, digits, '_', '.' and '-' only"));
        } else {
          auto [pos, inserted] = state_->names.emplace(*name, ValueLoc(*f));
          if (!inserted) {
            const SourceLocation& first = pos->second;
            Error(ValueLoc(*f),
                  absl::StrCat("duplicate workload name \"", *name, "\" (first defined at ",
                               first.file, ":", first.line, ":", first.column, ")"));
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
        } else {
          Error(ValueLoc(*f),
                absl::StrCat("invalid mode \"", *mode, "\": expected monitor or enforce"));
        }
      }
    }

    if (const Field* f = Find(fields, "selector")) {
      ParseSelector(*f, &wl.selector);
    } else {
      Error(wl.loc, "missing required key \"selector\" in workload (needs cgroup and/or exe)");
    }

    if (const Field* f = Find(fields, "egress")) ParseEgress(*f, &wl);

    state_->rules.workloads.push_back(std::move(wl));
  }

  void ParseSelector(const Field& f, Selector* out) {
    if (!f.value.IsMap()) {
      Error(ValueLoc(f),
            absl::StrCat("selector must be a map with cgroup and/or exe, got ", KindName(f.value)));
      return;
    }
    const Fields fields = ReadMap(f.value, "selector", {"cgroup", "exe"});
    const Field* cgroup = Find(fields, "cgroup");
    const Field* exe = Find(fields, "exe");
    if (cgroup == nullptr && exe == nullptr) {
      // An empty selector would match every process on the host.
      Error(LocOf(f.key), "selector is empty: it needs cgroup and/or exe");
      return;
    }
    if (cgroup != nullptr) out->cgroup_glob = ParseGlob(*cgroup, "cgroup");
    if (exe != nullptr) out->exe_glob = ParseGlob(*exe, "exe");
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
      if (std::optional<EgressAllow> entry = ParseAllow(item)) wl->allow.push_back(*entry);
    }
  }

  std::optional<EgressAllow> ParseAllow(const YAML::Node& node) {
    if (!node.IsMap()) {
      Error(LocOf(node), absl::StrCat("allow entry must be a map, got ", KindName(node)));
      return std::nullopt;
    }
    EgressAllow entry;
    entry.loc = LocOf(node);
    bool ok = true;
    const Fields fields = ReadMap(node, "allow entry", {"cidr", "ports", "comment"});
    if (const Field* f = Find(fields, "cidr")) {
      ok = ParseCidrField(*f, &entry.cidr) && ok;
    } else {
      Error(entry.loc, "missing required key \"cidr\" in allow entry");
      ok = false;
    }
    if (const Field* f = Find(fields, "ports")) ok = ParsePorts(*f, &entry.ports) && ok;
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
    absl::StatusOr<Cidr> cidr = ParseCidr(*text);
    if (!cidr.ok()) {
      Error(ValueLoc(f), std::string(cidr.status().message()));
      return false;
    }
    *out = *cidr;
    return true;
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

LoadResult Finish(LoadState state) {
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
  return Finish(std::move(state));
}

LoadResult LoadRules(const std::string& path) {
  LoadState state;
  try {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    std::vector<std::string> files;
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
  return Finish(std::move(state));
}

}  // namespace sluice::detect
