// libFuzzer target: the rules loader on arbitrary text (DESIGN §8). Beyond "no crash"
// (ASan/UBSan) it checks the loader's promises and aborts when one is broken:
// - a rule set is loaded whole or not at all: with errors, nothing is returned;
// - every error has a location inside the text (line >= 1 unless it is about the whole file)
//   and a message;
// - an accepted set satisfies what the engine relies on: workload ids are their indexes, class
//   ids are 1..n, every workload has a selector, parameters of every detector resolve.
// Built with -DSLUICE_BUILD_FUZZ=ON (clang); scripts/fuzz.sh runs it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "agent/detect/rules.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "rules_fuzz: broken promise: %s\n", what);
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const sluice::detect::LoadResult r = sluice::detect::ParseRules(text, "fuzz.yaml");
  if (!r.ok()) {
    Check(r.rules.workloads.empty() && r.rules.file_classes.empty() && r.rules.sinks.empty() &&
              r.rules.detectors.empty(),
          "a rejected set returned rules");
    const int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    for (const auto& e : r.errors) {
      Check(!e.message.empty(), "an error without a message");
      Check(e.loc.file == "fuzz.yaml", "an error located in another file");
      Check(e.loc.line >= 0 && e.loc.line <= lines + 1, "an error line outside the text");
    }
    return 0;
  }
  const auto& rules = r.rules;
  for (size_t i = 0; i < rules.workloads.size(); ++i) {
    const auto& w = rules.workloads[i];
    Check(w.id == i, "workload id is not its index");
    Check(w.selector.has_cgroup_side() || w.selector.exe_glob.has_value(),
          "a workload without a selector");
    for (const auto& a : w.allow) {
      Check(a.host_glob.has_value() || a.cidr.prefix_len >= 0, "an allow entry without a peer");
    }
  }
  for (size_t i = 0; i < rules.file_classes.size(); ++i) {
    Check(rules.file_classes[i].id == i + 1, "class ids are not 1..n");
    Check(!rules.file_classes[i].paths.empty(), "a class without paths");
  }
  for (const auto& spec : sluice::detect::kDetectorParams) {
    const double v = rules.Param(spec.detector, spec.name);
    Check(v >= spec.min && v <= spec.max, "a parameter outside its range");
  }
  for (const auto& [id, config] : rules.detectors) {
    for (const auto& e : config.exceptions) Check(!e.reason.empty(), "an exception without reason");
  }
  return 0;
}
