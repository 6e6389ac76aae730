// sluicectl: the operator's command line for sluice.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "agent/detect/rules.h"
#include "agent/enforce/policy.h"

namespace {

constexpr int kExitBadInput = 2;

// `sluicectl rules check PATH`: the exact checks sluiced runs at start (parse, validate, compile
// into kernel policy), so a rule set that passes here loads there.
int RulesCheck(const std::string& path) {
  sluice::detect::LoadResult loaded = sluice::detect::LoadRules(path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.ToString().c_str());
    fprintf(stderr, "%zu error(s); the rule set would be rejected whole\n",
            loaded.errors.size());
    return kExitBadInput;
  }
  auto policy =
      sluice::enforce::CompilePolicy(loaded.rules, sluice::enforce::GlobalMode::kEnforce);
  if (!policy.ok()) {
    fprintf(stderr, "%s\n", std::string(policy.status().message()).c_str());
    return kExitBadInput;
  }
  printf("ok: %zu workload(s) in %zu file(s)\n", loaded.rules.workloads.size(),
         loaded.rules.files.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluicectl: control and inspect sluice"};
  app.set_version_flag("--version", std::string("sluicectl ") + SLUICE_VERSION);
  app.require_subcommand(1);

  auto* rules = app.add_subcommand("rules", "Work with rule files");
  rules->require_subcommand(1);
  std::string check_path;
  auto* check = rules->add_subcommand(
      "check", "Validate a rule file or directory; prints file:line:col: message per error");
  check->add_option("PATH", check_path, "Rule file or directory")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }
  if (*check) return RulesCheck(check_path);
  return kExitBadInput;
}
