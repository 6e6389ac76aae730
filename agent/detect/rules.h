// The rule set: which workloads sluice watches, how it recognises them and where each one may
// send data. Loaded from YAML (schema in docs/rules.md); validated whole, so that a rule set is
// either loaded entirely or not at all (SIGHUP keeps the old set on any error, DESIGN §7).
#ifndef SLUICE_AGENT_DETECT_RULES_H_
#define SLUICE_AGENT_DETECT_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/detect/ip.h"

namespace sluice::detect {

enum class Mode { kMonitor, kEnforce };

const char* ModeName(Mode mode);  // "monitor", "enforce"

// Where a rule element was written; 1-based line and column. line == 0 means the error is
// about the file or directory as a whole (it does not exist, it holds no rule files, ...).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

struct PortRange {
  uint16_t lo = 0;  // inclusive
  uint16_t hi = 0;  // inclusive

  friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct EgressAllow {
  Cidr cidr;
  std::vector<PortRange> ports;  // empty = any port
  std::string comment;
  SourceLocation loc;  // the allow entry
};

struct Selector {
  std::optional<std::string> cgroup_glob;  // on the cgroup v2 path relative to the v2 root
  std::optional<std::string> exe_glob;     // on the absolute executable path
};

struct Workload {
  uint32_t id = 0;  // index in RuleSet::workloads: rule order, and the bit in the kernel masks
  std::string name;
  std::string role;  // "" when not set
  Mode mode = Mode::kMonitor;
  Selector selector;  // at least one glob is set
  std::vector<EgressAllow> allow;
  SourceLocation loc;  // the workload's map
};

// A class of sensitive files (DESIGN §5: inference-cache, vector-index, inference-log,
// training-data, crm-credentials, custom): files under any of `paths` belong to it.
struct FileClass {
  uint32_t id = 0;  // 1..SLUICE_MAX_FILE_CLASSES-1, in load order (0 means "not sensitive")
  std::string name;
  std::vector<std::string> paths;  // absolute path prefixes
  SourceLocation loc;
};

struct RuleSet {
  std::vector<Workload> workloads;
  std::vector<FileClass> file_classes;
  std::vector<std::string> files;  // the files read, in load order
};

struct RuleError {
  SourceLocation loc;
  std::string message;

  // "file:line:col: message", or "file: message" for errors without a position.
  std::string ToString() const;
};

struct LoadResult {
  RuleSet rules;  // empty whenever errors is not empty
  std::vector<RuleError> errors;

  bool ok() const { return errors.empty(); }
};

// Loads a rule file, or every *.yaml / *.yml file of a directory (non-recursive, sorted by name,
// hidden files skipped). Workload ids follow file order, then rule order. Every error of every
// file is reported; none of them is fatal to the process and nothing throws.
LoadResult LoadRules(const std::string& path);

// Parses one file's text; file_name only labels the locations.
LoadResult ParseRules(std::string_view yaml_text, const std::string& file_name);

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_RULES_H_
