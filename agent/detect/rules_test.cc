#include "agent/detect/rules.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Errors(const LoadResult& r) {
  std::vector<std::string> out;
  for (const RuleError& e : r.errors) out.push_back(e.ToString());
  return out;
}

LoadResult Parse(const std::string& text) { return ParseRules(text, "t.yaml"); }

// The errors of a snippet; also checks the all-or-nothing contract on every error case.
std::vector<std::string> ParseErrors(const std::string& text) {
  const LoadResult r = Parse(text);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.rules.workloads, IsEmpty());
  EXPECT_THAT(r.rules.files, IsEmpty());
  return Errors(r);
}

// A rule file with one workload whose body (indented by four spaces) is `body`.
std::string OneWorkload(const std::string& body) {
  return "version: 1\nworkloads:\n  - name: w\n" + body;
}

// A fresh, empty directory under the test temp dir, removed when the test ends (pass or fail).
class ScopedDir {
 public:
  explicit ScopedDir(const std::string& name)
      : dir_(fs::path(::testing::TempDir()) /
             ("sluice_rules_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~ScopedDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string str() const { return dir_.string(); }

 private:
  fs::path dir_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// ---- happy paths ----

TEST(ParseRulesTest, ReadsEveryField) {
  const LoadResult r = Parse(R"(version: 1
workloads:
  - name: crm-sync
    role: crm-sync
    mode: enforce
    selector:
      cgroup: "/system.slice/crm-sync.service"
      exe: "/usr/bin/python3*"
    egress:
      allow:
        - cidr: 10.20.0.0/16
          ports: [443, "8000-8100"]
          comment: "CRM API"
        - cidr: 2001:db8::/32
)");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_THAT(r.rules.files, ElementsAre("t.yaml"));
  ASSERT_EQ(r.rules.workloads.size(), 1u);
  const Workload& w = r.rules.workloads[0];
  EXPECT_EQ(w.id, 0u);
  EXPECT_EQ(w.name, "crm-sync");
  EXPECT_EQ(w.role, "crm-sync");
  EXPECT_EQ(w.mode, Mode::kEnforce);
  EXPECT_EQ(w.selector.cgroup_glob, "/system.slice/crm-sync.service");
  EXPECT_EQ(w.selector.exe_glob, "/usr/bin/python3*");
  EXPECT_EQ(w.loc.file, "t.yaml");
  EXPECT_EQ(w.loc.line, 3);
  EXPECT_EQ(w.loc.column, 5);
  ASSERT_EQ(w.allow.size(), 2u);
  EXPECT_EQ(w.allow[0].cidr.ToString(), "10.20.0.0/16");
  EXPECT_THAT(w.allow[0].ports, ElementsAre(PortRange{443, 443}, PortRange{8000, 8100}));
  EXPECT_EQ(w.allow[0].comment, "CRM API");
  EXPECT_EQ(w.allow[0].loc.line, 11);
  EXPECT_EQ(w.allow[0].loc.column, 11);
  EXPECT_EQ(w.allow[1].cidr.ToString(), "2001:db8::/32");
  EXPECT_THAT(w.allow[1].ports, IsEmpty());
  EXPECT_EQ(w.allow[1].loc.line, 14);
}

TEST(ParseRulesTest, Defaults) {
  const LoadResult r = Parse(OneWorkload("    selector: {exe: /usr/bin/curl}\n"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const Workload& w = r.rules.workloads[0];
  EXPECT_EQ(w.mode, Mode::kMonitor);
  EXPECT_EQ(w.role, "");
  EXPECT_FALSE(w.selector.cgroup_glob.has_value());
  EXPECT_THAT(w.allow, IsEmpty());
}

TEST(ParseRulesTest, EmptyEgressAndAllowAllowNothing) {
  for (const std::string egress :
       {"    egress:\n", "    egress: {}\n", "    egress:\n      allow:\n",
        "    egress:\n      allow: []\n"}) {
    const LoadResult r = Parse(OneWorkload("    selector: {cgroup: /x}\n" + egress));
    ASSERT_TRUE(r.ok()) << egress << Errors(r)[0];
    EXPECT_THAT(r.rules.workloads[0].allow, IsEmpty());
  }
}

TEST(ParseRulesTest, RolesAndModes) {
  for (const std::string role :
       {"crm-sync", "llm-inference", "vector-db", "admin-export", "custom:etl.v2"}) {
    const LoadResult r = Parse(OneWorkload("    role: " + role + "\n    selector: {cgroup: /x}\n"));
    ASSERT_TRUE(r.ok()) << role;
    EXPECT_EQ(r.rules.workloads[0].role, role);
  }
  const LoadResult r = Parse(OneWorkload("    mode: monitor\n    selector: {cgroup: /x}\n"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.rules.workloads[0].mode, Mode::kMonitor);
  EXPECT_STREQ(ModeName(Mode::kMonitor), "monitor");
  EXPECT_STREQ(ModeName(Mode::kEnforce), "enforce");
  EXPECT_STREQ(ModeName(Mode::kLearn), "learn");
  const LoadResult learn = Parse(OneWorkload("    mode: learn\n    selector: {cgroup: /x}\n"));
  ASSERT_TRUE(learn.ok()) << Errors(learn)[0];
  EXPECT_EQ(learn.rules.workloads[0].mode, Mode::kLearn);
}

TEST(ParseRulesTest, PortForms) {
  const LoadResult r = Parse(OneWorkload(R"(    selector: {cgroup: /x}
    egress:
      allow:
        - cidr: 192.0.2.0/24
          ports: [1, 65535, "443", "1-65535", "80-80"]
)"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_THAT(r.rules.workloads[0].allow[0].ports,
              ElementsAre(PortRange{1, 1}, PortRange{65535, 65535}, PortRange{443, 443},
                          PortRange{1, 65535}, PortRange{80, 80}));
}

TEST(ParseRulesTest, NoWorkloadsIsAnEmptySet) {
  for (const std::string text : {"version: 1\n", "version: 1\nworkloads: []\n",
                                 "version: 1\nworkloads:\n", "# header\nversion: 1 # one\n"}) {
    const LoadResult r = Parse(text);
    EXPECT_TRUE(r.ok()) << text;
    EXPECT_THAT(r.rules.workloads, IsEmpty());
  }
}

TEST(ParseRulesTest, ThirtyTwoWorkloadsFit) {
  std::string text = "version: 1\nworkloads:\n";
  for (int i = 0; i < 32; ++i)
    absl::StrAppend(&text, "  - {name: w", i, ", selector: {cgroup: /w}}\n");
  const LoadResult r = Parse(text);
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  ASSERT_EQ(r.rules.workloads.size(), 32u);
  EXPECT_EQ(r.rules.workloads[31].id, 31u);
  EXPECT_EQ(r.rules.workloads[31].name, "w31");
}

// ---- error paths, each with its exact location ----

TEST(RuleErrorTest, Format) {
  EXPECT_EQ((RuleError{{"a.yaml", 3, 7}, "bad"}).ToString(), "a.yaml:3:7: bad");
  EXPECT_EQ((RuleError{{"rules.d", 0, 0}, "bad"}).ToString(), "rules.d: bad");
}

TEST(QuarantineRulesTest, ParsesDetectorsAndAddressEntries) {
  const LoadResult r = ParseRules(R"(version: 1
workloads:
  - name: inference
    mode: enforce
    selector: {cgroup: /llm}
    quarantine:
      on: [pii_egress, cache_dump, pii_egress]
      allow:
        - cidr: 10.0.0.0/8
          ports: [443]
)", "t.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r).front();
  const Workload& w = r.rules.workloads[0];
  EXPECT_THAT(w.quarantine_on, ElementsAre("pii_egress", "cache_dump"));
  ASSERT_EQ(w.quarantine_allow.size(), 1u);
  EXPECT_EQ(w.quarantine_allow[0].cidr.ToString(), "10.0.0.0/8");
  EXPECT_TRUE(w.allow.empty());  // the quarantine list is not an egress allowance
}

TEST(QuarantineRulesTest, ErrorsCarryTheirLocation) {
  EXPECT_THAT(ParseErrors(R"(version: 1
workloads:
  - name: inference
    selector: {cgroup: /llm}
    quarantine:
      on: [pii_egres, {x: 1}]
      allow:
        - host: crm.example.com
      deny: []
)"),
              ElementsAre(::testing::StartsWith("t.yaml:6:12: unknown detector \"pii_egres\" in "
                                                "quarantine on: expected one of unexpected_egress"),
                          "t.yaml:6:23: detector id must be a string, got a map",
                          "t.yaml:8:11: quarantine allow entries take \"cidr\", not \"host\": "
                          "the kernel decides a quarantine by address",
                          "t.yaml:9:7: unknown key \"deny\" in quarantine; allowed keys: on, allow"));
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - name: a\n    selector: {cgroup: /a}\n"
                          "    quarantine: [pii_egress]\n"),
              ElementsAre("t.yaml:5:17: quarantine must be a map with on and/or allow, got a "
                          "list"));
}

TEST(ParseErrorsTest, EmptyFile) {
  const std::string msg = "rule file is empty: expected a map with \"version: 1\"";
  EXPECT_THAT(ParseErrors(""), ElementsAre("t.yaml:1:1: " + msg));
  EXPECT_THAT(ParseErrors("# only a comment\n"), ElementsAre("t.yaml:1:1: " + msg));
  EXPECT_THAT(ParseErrors("~\n"), ElementsAre("t.yaml:1:1: " + msg));
}

// yaml-cpp 0.7's LoadAll loops forever, allocating, on a document it cannot give a root (found
// by tests/fuzz/rules_fuzz): these must be errors, promptly.
TEST(ParseErrorsTest, StrayCommaIsAnErrorNotAHang) {
  const std::string msg = "invalid YAML: the document has no value (a stray ',', ']' or '}'?)";
  EXPECT_THAT(ParseErrors(",\n"), ElementsAre("t.yaml:1:1: " + msg));
  EXPECT_THAT(ParseErrors("# rules\n ,gs\n"), ElementsAre("t.yaml:2:2: " + msg));
  EXPECT_THAT(ParseErrors("version: 1\n---\n,\n"),
              ElementsAre(::testing::HasSubstr("found a second one")));
}

TEST(ParseErrorsTest, InvalidYaml) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads: [\n  {name: a\n"),
              ElementsAre("t.yaml:4:1: invalid YAML: end of map flow not found"));
  EXPECT_THAT(ParseErrors("version: 1\n  bad: indent\n"),
              ElementsAre("t.yaml:2:6: invalid YAML: illegal map value"));
  EXPECT_THAT(ParseErrors("version: 1\nworkloads: *nope\n"),
              ElementsAre("t.yaml:2:12: invalid YAML: the referenced anchor is not defined"));
}

TEST(ParseErrorsTest, DeepNestingIsAnErrorNotACrash) {
  const std::vector<std::string> errors = ParseErrors(std::string(100000, '['));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("t.yaml:1:"));
}

TEST(ParseErrorsTest, SecondDocument) {
  EXPECT_THAT(ParseErrors("version: 1\n---\nversion: 1\n"),
              ElementsAre("t.yaml:3:1: a rule file holds one YAML document; found a second one"));
}

TEST(ParseErrorsTest, TopLevelNotAMap) {
  EXPECT_THAT(ParseErrors("- version: 1\n"),
              ElementsAre("t.yaml:1:1: rule file must be a map with keys version, workloads; got "
                          "a list"));
  EXPECT_THAT(ParseErrors("\nhello\n"),
              ElementsAre("t.yaml:2:1: rule file must be a map with keys version, workloads; got "
                          "a scalar"));
}

TEST(ParseErrorsTest, UnknownTopLevelKey) {
  EXPECT_THAT(ParseErrors("version: 1\nworkload: []\n"),
              ElementsAre("t.yaml:2:1: unknown key \"workload\" in the rule file; allowed keys: "
                          "version, workloads, files, crm, sinks, detectors, alerts"));
}

TEST(FileClassesTest, ParsesClassesWithIdsInOrder) {
  LoadResult r = Parse(
      "version: 1\n"
      "files:\n"
      "  - class: inference-cache\n"
      "    paths: [/var/cache/llm/, /srv/kv]\n"
      "  - class: crm-credentials\n"
      "    paths: [/etc/crm/token]\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.rules.file_classes.size(), 2u);
  EXPECT_EQ(r.rules.file_classes[0].id, 1u);
  EXPECT_EQ(r.rules.file_classes[0].name, "inference-cache");
  EXPECT_THAT(r.rules.file_classes[0].paths, ElementsAre("/var/cache/llm/", "/srv/kv"));
  EXPECT_EQ(r.rules.file_classes[1].id, 2u);
}

// A reload keeps the id of every class that stays, so a file the kernel tagged keeps its name;
// new classes prefer ids nobody had, and all ids stay distinct and in range.
TEST(FileClassesTest, ReloadKeepsIdsByName) {
  LoadResult before = Parse(
      "version: 1\nfiles:\n  - {class: a, paths: [/a]}\n  - {class: b, paths: [/b]}\n"
      "  - {class: c, paths: [/c]}\n");
  LoadResult after = Parse(
      "version: 1\nfiles:\n  - {class: new1, paths: [/n]}\n  - {class: c, paths: [/c]}\n"
      "  - {class: a, paths: [/a2]}\n");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(after.ok());
  KeepFileClassIds(before.rules, &after.rules);
  ASSERT_EQ(after.rules.file_classes.size(), 3u);
  EXPECT_EQ(after.rules.file_classes[0].id, 4u);  // not 2: b's id may still be in flight
  EXPECT_EQ(after.rules.file_classes[1].id, 3u);
  EXPECT_EQ(after.rules.file_classes[2].id, 1u);

  // Full house: 31 new classes after 31 old ones reuse every id exactly once.
  std::string many_old = "version: 1\nfiles:\n";
  std::string many_new = "version: 1\nfiles:\n";
  for (int i = 0; i < SLUICE_MAX_FILE_CLASSES - 1; ++i) {
    absl::StrAppend(&many_old, "  - {class: o", i, ", paths: [/o", i, "]}\n");
    absl::StrAppend(&many_new, "  - {class: n", i, ", paths: [/n", i, "]}\n");
  }
  LoadResult o = Parse(many_old);
  LoadResult n = Parse(many_new);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(n.ok());
  KeepFileClassIds(o.rules, &n.rules);
  std::set<uint32_t> ids;
  for (const auto& c : n.rules.file_classes) {
    EXPECT_GE(c.id, 1u);
    EXPECT_LT(c.id, uint32_t{SLUICE_MAX_FILE_CLASSES});
    ids.insert(c.id);
  }
  EXPECT_EQ(ids.size(), n.rules.file_classes.size());
}

TEST(FileClassesTest, ErrorsHaveLocations) {
  EXPECT_THAT(ParseErrors("version: 1\nfiles:\n  - class: a\n    paths: [relative/x]\n"),
              ElementsAre("t.yaml:4:13: path prefix \"relative/x\" must be absolute"));
  EXPECT_THAT(ParseErrors("version: 1\nfiles:\n  - class: a\n    paths: []\n"),
              ElementsAre("t.yaml:4:12: paths must be a non-empty list of absolute path prefixes"));
  EXPECT_THAT(ParseErrors("version: 1\nfiles:\n  - paths: [/a]\n"),
              ElementsAre("t.yaml:3:5: missing required key \"class\" in file class"));
  EXPECT_THAT(ParseErrors("version: 1\nfiles:\n  - class: a\n    paths: [/a/../etc]\n"),
              ElementsAre("t.yaml:4:13: path prefix \"/a/../etc\" must be a plain absolute path"));
  EXPECT_THAT(
      ParseErrors("version: 1\nfiles:\n  - {class: a, paths: [/a]}\n  - {class: a, paths: [/b]}\n"),
      ElementsAre("t.yaml:4:13: duplicate file class \"a\" (first defined at t.yaml:3:13)"));
  EXPECT_THAT(ParseErrors("version: 1\nfiles: {class: a}\n"),
              ElementsAre("t.yaml:2:8: files must be a list, got a map"));
  EXPECT_THAT(ParseErrors("version: 1\nfiles:\n  - class: a\n    paths: [/a]\n    path: x\n"),
              ElementsAre("t.yaml:5:5: unknown key \"path\" in file class; allowed keys: class, "
                          "paths"));
}

TEST(ParseErrorsTest, NonStringKey) {
  EXPECT_THAT(ParseErrors("version: 1\n? [a, b]\n: 1\n"),
              ElementsAre("t.yaml:2:3: keys of the rule file must be strings, got a list"));
}

TEST(ParseErrorsTest, DuplicateKey) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads: []\nworkloads: []\n"),
              ElementsAre("t.yaml:3:1: duplicate key \"workloads\" in the rule file (first at "
                          "line 2)"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a, cgroup: /b}\n")),
              ElementsAre("t.yaml:4:28: duplicate key \"cgroup\" in selector (first at line 4)"));
}

TEST(ParseErrorsTest, MissingVersionStillChecksTheRest) {
  EXPECT_THAT(ParseErrors("workloads:\n  - name: a\n    mode: x\n    selector: {cgroup: /a}\n"),
              ElementsAre("t.yaml:1:1: missing required key \"version\" (use version: 1)",
                          "t.yaml:3:11: invalid mode \"x\": expected monitor, enforce or learn"));
}

TEST(ParseErrorsTest, UnsupportedVersionStopsTheFile) {
  // The unknown key of a newer schema is not reported: only the version is.
  EXPECT_THAT(
      ParseErrors("version: 2\nworkloads:\n  - name: a\n    fqdn: x\n"),
      ElementsAre("t.yaml:1:10: unsupported rules version 2 (this sluice reads version 1)"));
  EXPECT_THAT(
      ParseErrors("version: 0\n"),
      ElementsAre("t.yaml:1:10: unsupported rules version 0 (this sluice reads version 1)"));
}

TEST(ParseErrorsTest, VersionNotAnInteger) {
  EXPECT_THAT(ParseErrors("version: one\n"),
              ElementsAre("t.yaml:1:10: version must be an integer, got \"one\""));
  EXPECT_THAT(ParseErrors("version: 1.0\n"),
              ElementsAre("t.yaml:1:10: version must be an integer, got \"1.0\""));
  EXPECT_THAT(ParseErrors("version: [1]\n"),
              ElementsAre("t.yaml:1:10: version must be an integer, got a list"));
  EXPECT_THAT(ParseErrors("version:\n"),
              ElementsAre("t.yaml:1:1: version must be an integer, got null"));
}

TEST(ParseErrorsTest, WorkloadsNotAList) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  name: a\n"),
              ElementsAre("t.yaml:3:3: workloads must be a list, got a map"));
}

TEST(ParseErrorsTest, WorkloadNotAMap) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - just-a-name\n"),
              ElementsAre("t.yaml:3:5: workload must be a map, got a scalar"));
}

TEST(ParseErrorsTest, UnknownKeyAtEveryLevel) {
  EXPECT_THAT(
      ParseErrors(OneWorkload(R"(    labels: {a: b}
    selector:
      cgroup: /a
      pod: a
    egress:
      deny: []
      allow:
        - cidr: 192.0.2.0/24
          fqdn: example.com
)")),
      ElementsAre("t.yaml:4:5: unknown key \"labels\" in workload; allowed keys: name, role, "
                  "mode, selector, egress, budgets, quarantine",
                  "t.yaml:7:7: unknown key \"pod\" in selector; allowed keys: cgroup, unit, "
                  "container, exe",
                  "t.yaml:9:7: unknown key \"deny\" in egress; allowed keys: allow",
                  "t.yaml:12:11: unknown key \"fqdn\" in allow entry; allowed keys: cidr, host, "
                  "ports, tls, comment"));
}

TEST(ParseErrorsTest, MissingName) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - selector: {cgroup: /a}\n"),
              ElementsAre("t.yaml:3:5: missing required key \"name\" in workload"));
}

TEST(ParseErrorsTest, NameNotAString) {
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - name: [a]\n    selector: {cgroup: /a}\n"),
              ElementsAre("t.yaml:3:11: name must be a string, got a list"));
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - name:\n    selector: {cgroup: /a}\n"),
              ElementsAre("t.yaml:3:5: name must be a string, got null"));
}

TEST(ParseErrorsTest, InvalidName) {
  EXPECT_THAT(
      ParseErrors("version: 1\nworkloads:\n  - name: \"crm sync\"\n    selector: {cgroup: /a}\n"),
      ElementsAre("t.yaml:3:11: invalid workload name \"crm sync\": use letters, digits, '_', "
                  "'.' and '-' only"));
  EXPECT_THAT(ParseErrors("version: 1\nworkloads:\n  - name: \"\"\n    selector: {cgroup: /a}\n"),
              ElementsAre("t.yaml:3:11: invalid workload name \"\": use letters, digits, '_', "
                          "'.' and '-' only"));
}

TEST(ParseErrorsTest, DuplicateNamePointsAtTheSecond) {
  EXPECT_THAT(ParseErrors(R"(version: 1
workloads:
  - name: crm
    selector: {cgroup: /a}
  - selector: {cgroup: /b}
    name: crm
)"),
              ElementsAre("t.yaml:6:11: duplicate workload name \"crm\" (first defined at "
                          "t.yaml:3:11)"));
}

TEST(ParseErrorsTest, InvalidRole) {
  const std::string msg =
      ": expected one of crm-sync, llm-inference, vector-db, admin-export or \"custom:NAME\"";
  EXPECT_THAT(ParseErrors(OneWorkload("    role: crm\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid role \"crm\"" + msg));
  EXPECT_THAT(ParseErrors(OneWorkload("    role: \"custom:\"\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid role \"custom:\"" + msg));
  EXPECT_THAT(ParseErrors(OneWorkload("    role: \"custom:a b\"\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid role \"custom:a b\"" + msg));
  EXPECT_THAT(ParseErrors(OneWorkload("    role: {a: b}\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: role must be a string, got a map"));
}

TEST(ParseErrorsTest, InvalidMode) {
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: learning\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid mode \"learning\": expected monitor, enforce or "
                          "learn"));
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: Enforce\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid mode \"Enforce\": expected monitor, enforce or "
                          "learn"));
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: [enforce]\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: mode must be a string, got a list"));
}

TEST(ParseErrorsTest, MissingSelector) {
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: monitor\n")),
              ElementsAre("t.yaml:3:5: missing required key \"selector\" in workload (needs "
                          "cgroup, unit, container and/or exe)"));
}

TEST(ParseErrorsTest, SelectorNotAMap) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n")),
              ElementsAre("t.yaml:4:5: selector must be a map with cgroup, unit, container and/or "
                          "exe, got null"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: /system.slice\n")),
              ElementsAre("t.yaml:4:15: selector must be a map with cgroup, unit, container and/or "
                          "exe, got a scalar"));
}

TEST(ParseErrorsTest, EmptySelector) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {}\n")),
              ElementsAre("t.yaml:4:5: selector is empty: it needs cgroup, unit, container and/or "
                          "exe"));
  // Only unknown keys: as empty as {} once they are reported.
  EXPECT_THAT(
      ParseErrors(OneWorkload("    selector:\n      pod: x\n")),
      ElementsAre("t.yaml:4:5: selector is empty: it needs cgroup, unit, container and/or exe",
                  "t.yaml:5:7: unknown key \"pod\" in selector; allowed keys: cgroup, unit, "
                  "container, exe"));
}

TEST(ParseErrorsTest, EmptyGlob) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      cgroup: \"\"\n")),
              ElementsAre("t.yaml:5:15: cgroup glob is empty"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      exe:\n")),
              ElementsAre("t.yaml:5:7: exe glob is empty"));
}

TEST(ParseErrorsTest, GlobMustBeAbsolute) {
  EXPECT_THAT(
      ParseErrors(OneWorkload("    selector:\n      cgroup: system.slice/a.service\n")),
      ElementsAre("t.yaml:5:15: cgroup glob \"system.slice/a.service\" must start with \"/\" "
                  "(paths are relative to the cgroup v2 root)"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      exe: \"*/python3\"\n")),
              ElementsAre("t.yaml:5:12: exe glob \"*/python3\" must start with \"/\" (an absolute "
                          "executable path)"));
}

TEST(ParseErrorsTest, GlobTrailingSlashAndNul) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      cgroup: /system.slice/\n")),
              ElementsAre("t.yaml:5:15: cgroup glob \"/system.slice/\" must not end with \"/\""));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      exe: \"/usr/bin/a\\0b\"\n")),
              ElementsAre("t.yaml:5:12: exe glob contains a NUL byte"));
  // "/" alone is a valid glob: the root cgroup itself.
  EXPECT_TRUE(Parse(OneWorkload("    selector: {cgroup: /}\n")).ok());
}

TEST(ParseErrorsTest, GlobNotAString) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n      cgroup: [/a, /b]\n")),
              ElementsAre("t.yaml:5:15: cgroup glob must be a string, got a list"));
}

TEST(ParseErrorsTest, EgressAndAllowTypes) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a}\n    egress: [1.2.3.4]\n")),
              ElementsAre("t.yaml:5:13: egress must be a map, got a list"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a}\n    egress:\n      allow: "
                                      "{cidr: 1.2.3.4}\n")),
              ElementsAre("t.yaml:6:14: allow must be a list, got a map"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a}\n    egress:\n      allow: "
                                      "[1.2.3.4]\n")),
              ElementsAre("t.yaml:6:15: allow entry must be a map, got a scalar"));
}

TEST(ParseErrorsTest, MissingCidr) {
  EXPECT_THAT(
      ParseErrors(OneWorkload(
          "    selector: {cgroup: /a}\n    egress:\n      allow:\n        - ports: [443]\n")),
      ElementsAre("t.yaml:7:11: missing required key \"cidr\" or \"host\" in allow entry"));
}

TEST(ParseErrorsTest, BadCidr) {
  const std::string head =
      "    selector: {cgroup: /a}\n    egress:\n      allow:\n        - cidr: ";
  EXPECT_THAT(ParseErrors(OneWorkload(head + "10.0.0.1/8\n")),
              ElementsAre("t.yaml:7:17: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"));
  EXPECT_THAT(
      ParseErrors(OneWorkload(head + "10.0.0.0/33\n")),
      ElementsAre("t.yaml:7:17: invalid CIDR \"10.0.0.0/33\": prefix length must be a number "
                  "0..32"));
  EXPECT_THAT(
      ParseErrors(OneWorkload(head + "example.com\n")),
      ElementsAre("t.yaml:7:17: invalid CIDR \"example.com\": \"example.com\" is not an IPv4 "
                  "address"));
  EXPECT_THAT(
      ParseErrors(OneWorkload(head + "\"2001:db8::g/32\"\n")),
      ElementsAre("t.yaml:7:17: invalid CIDR \"2001:db8::g/32\": \"2001:db8::g\" is not an IPv6 "
                  "address"));
  EXPECT_THAT(ParseErrors(OneWorkload(head + "[10.0.0.0/8]\n")),
              ElementsAre("t.yaml:7:17: cidr must be a string, got a list"));
  EXPECT_THAT(ParseErrors(OneWorkload(head + "\n")),
              ElementsAre("t.yaml:7:11: cidr must be a string, got null"));
}

TEST(ParseErrorsTest, BadPorts) {
  const std::string head = OneWorkload(
      "    selector: {cgroup: /a}\n    egress:\n      allow:\n        - cidr: 10.0.0.0/8\n"
      "          ports: ");
  EXPECT_THAT(
      ParseErrors(head + "[0, 65536, \"90-80\", \"0-10\", http, \"1-2-3\", \"-5\", \"80-\", -1, "
                         "{a: 1}, [1]]\n"),
      ElementsAre("t.yaml:8:19: invalid port \"0\": ports are 1..65535",
                  "t.yaml:8:22: invalid port \"65536\": ports are 1..65535",
                  "t.yaml:8:29: invalid port range \"90-80\": 90 > 80",
                  "t.yaml:8:38: invalid port \"0-10\": ports are 1..65535",
                  "t.yaml:8:46: invalid port \"http\": expected a number 1..65535 or a \"lo-hi\" "
                  "range",
                  "t.yaml:8:52: invalid port \"1-2-3\": expected a number 1..65535 or a \"lo-hi\" "
                  "range",
                  "t.yaml:8:61: invalid port \"-5\": expected a number 1..65535 or a \"lo-hi\" "
                  "range",
                  "t.yaml:8:67: invalid port \"80-\": expected a number 1..65535 or a \"lo-hi\" "
                  "range",
                  "t.yaml:8:74: invalid port \"-1\": expected a number 1..65535 or a \"lo-hi\" "
                  "range",
                  "t.yaml:8:78: port must be a number or a \"lo-hi\" string, got a map",
                  "t.yaml:8:86: port must be a number or a \"lo-hi\" string, got a list"));
  EXPECT_THAT(ParseErrors(head + "443\n"),
              ElementsAre("t.yaml:8:18: ports must be a non-empty list, got a scalar; omit "
                          "\"ports\" to allow any port"));
  EXPECT_THAT(ParseErrors(head + "[]\n"),
              ElementsAre("t.yaml:8:18: ports must be a non-empty list, got an empty list; omit "
                          "\"ports\" to allow any port"));
  EXPECT_THAT(ParseErrors(head + "\n"),
              ElementsAre("t.yaml:8:11: ports must be a non-empty list, got null; omit "
                          "\"ports\" to allow any port"));
}

TEST(ParseErrorsTest, CommentNotAString) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a}\n    egress:\n      allow:\n"
                                      "        - {cidr: 10.0.0.0/8, comment: [a]}\n")),
              ElementsAre("t.yaml:7:39: comment must be a string, got a list"));
}

TEST(ParseErrorsTest, TooManyWorkloads) {
  std::string text = "version: 1\nworkloads:\n";
  for (int i = 0; i < 34; ++i)
    absl::StrAppend(&text, "  - {name: w", i, ", selector: {cgroup: /w}}\n");
  // Reported once, at the 33rd workload (line 35), not again at the 34th.
  EXPECT_THAT(ParseErrors(text),
              ElementsAre("t.yaml:35:5: too many workloads: at most 32 are supported (the "
                          "kernel's 64-bit masks hold the live set and, during a reload, the "
                          "next one)"));
}

// Every error, in the order of the file (not the order the checks run in).
TEST(ParseErrorsTest, CollectsEveryErrorOfAFile) {
  const LoadResult r = LoadRules("rules/testdata/many_errors.yaml");
  EXPECT_THAT(r.rules.workloads, IsEmpty());
  const std::string f = "rules/testdata/many_errors.yaml";
  EXPECT_THAT(
      Errors(r),
      ElementsAre(
          f + ":3:11: invalid workload name \"bad name\": use letters, digits, '_', '.' and '-' "
              "only",
          f + ":4:11: invalid mode \"enforcing\": expected monitor, enforce or learn",
          f + ":6:15: cgroup glob \"system.slice/x.service\" must start with \"/\" (paths are "
              "relative to the cgroup v2 root)",
          f + ":9:17: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
          f + ":10:19: invalid port \"0\": ports are 1..65535",
          f + ":10:22: invalid port range \"90-80\": 90 > 80",
          f + ":11:11: missing required key \"cidr\" or \"host\" in allow entry",
          f + ":12:5: missing required key \"name\" in workload",
          f + ":12:5: selector is empty: it needs cgroup, unit, container and/or exe",
          f + ":13:5: unknown key \"colour\" in workload; allowed keys: name, role, mode, "
              "selector, egress, budgets, quarantine"));
}

TEST(ParseErrorsTest, NeverCrashesOnMangledInput) {
  std::ifstream in("rules/testdata/full.yaml", std::ios::binary);
  const std::string full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(full.empty());
  // Every prefix, and random byte edits: the parser must return (ok or errors), never throw.
  for (size_t n = 0; n <= full.size(); ++n) Parse(full.substr(0, n));
  std::mt19937 rng(42);
  const std::string alphabet = "-:[]{},#&*!|>'\"%@` \n\t/0123456789abc\\";
  for (int i = 0; i < 2000; ++i) {
    std::string text = full;
    for (int k = 0; k < 4; ++k) text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
    const LoadResult r = Parse(text);
    if (!r.ok()) {
      EXPECT_THAT(r.rules.workloads, IsEmpty());
    }
    for (const RuleError& e : r.errors) EXPECT_GE(e.loc.line, 1) << e.ToString();
  }
}

// ---- schema v1: unit and container selectors, host allow entries, budgets, crm, sinks,
// detectors, alerts ----

// The errors of one selector line (line 5 of the file, the value at column 13 for "unit: ").
std::vector<std::string> SelectorErrors(const std::string& line) {
  return ParseErrors(OneWorkload("    selector:\n      " + line + "\n"));
}

TEST(SelectorTest, UnitAndContainer) {
  for (const std::string unit :
       {"crm-sync.service", "getty@tty1.service", "llm.scope", "user-1000.slice", "a.socket",
        "system-systemd\\\\x2dcryptsetup.slice", "a:b_c.service"}) {
    const LoadResult r = Parse(OneWorkload("    selector:\n      unit: \"" + unit + "\"\n"));
    ASSERT_TRUE(r.ok()) << unit << ": " << Errors(r)[0];
    EXPECT_TRUE(r.rules.workloads[0].selector.has_cgroup_side());
  }
  const LoadResult r = Parse(
      OneWorkload("    selector:\n      unit: llm.service\n      container: {id: 0123456789ab}\n"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const Selector& s = r.rules.workloads[0].selector;
  EXPECT_EQ(s.unit, "llm.service");
  EXPECT_EQ(s.container_id, "0123456789ab");
  EXPECT_FALSE(s.cgroup_glob.has_value());
  EXPECT_TRUE(s.has_cgroup_side());
  const std::string full_id(64, 'f');
  const LoadResult full =
      Parse(OneWorkload("    selector:\n      container: {id: " + full_id + "}\n"));
  ASSERT_TRUE(full.ok()) << Errors(full)[0];
  EXPECT_EQ(full.rules.workloads[0].selector.container_id, full_id);
}

TEST(SelectorTest, InvalidUnit) {
  const std::string msg =
      "\": expected a systemd unit name (letters, digits and \":_.\\@-\") ending in .service, "
      ".scope, .slice or .socket";
  for (const std::string unit :
       {"crm-sync", ".service", "a b.service", "a.target", "a.service/x", "a.service.d"}) {
    EXPECT_THAT(SelectorErrors("unit: \"" + unit + "\""),
                ElementsAre("t.yaml:5:13: invalid unit \"" + unit + msg))
        << unit;
  }
  EXPECT_THAT(SelectorErrors("unit: [a.service]"),
              ElementsAre("t.yaml:5:13: unit must be a string, got a list"));
}

TEST(SelectorTest, InvalidContainer) {
  const std::string msg = "\": expected 12 to 64 lower-case hex digits (the id or a prefix of it)";
  for (const std::string& id : {std::string("0123456789a"), std::string(65, 'a'),
                                std::string("ABCDEF012345"), std::string("0123456789ag")}) {
    EXPECT_THAT(SelectorErrors("container: {id: \"" + id + "\"}"),
                ElementsAre("t.yaml:5:23: invalid container id \"" + id + msg))
        << id;
  }
  EXPECT_THAT(SelectorErrors("container: 0123456789ab"),
              ElementsAre("t.yaml:5:18: container must be a map with keys id and/or labels, got "
                          "a scalar"));
  EXPECT_THAT(SelectorErrors("container: {}"),
              ElementsAre("t.yaml:5:7: container needs id and/or labels"));
  EXPECT_THAT(SelectorErrors("container: {name: web}"),
              ElementsAre("t.yaml:5:7: container needs id and/or labels",
                          "t.yaml:5:19: unknown key \"name\" in container; allowed keys: id, "
                          "labels"));
}

TEST(SelectorTest, ContainerLabels) {
  const LoadResult r = Parse(OneWorkload(
      "    selector:\n      container: {labels: {app: crm-sync, \"io.kubernetes.pod.namespace\": "
      "crm}}\n"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const Selector& s = r.rules.workloads[0].selector;
  EXPECT_FALSE(s.container_id.has_value());
  EXPECT_THAT(s.container_labels,
              ElementsAre(std::pair<std::string, std::string>("app", "crm-sync"),
                          std::pair<std::string, std::string>("io.kubernetes.pod.namespace",
                                                              "crm")));
  EXPECT_TRUE(s.has_cgroup_side());
  // With an id too: both must match.
  const LoadResult both = Parse(OneWorkload(
      "    selector:\n      container: {id: 0123456789ab, labels: {app: x}}\n"));
  ASSERT_TRUE(both.ok()) << Errors(both)[0];
  EXPECT_EQ(both.rules.workloads[0].selector.container_id, "0123456789ab");
  EXPECT_EQ(both.rules.workloads[0].selector.container_labels.size(), 1u);
}

TEST(SelectorTest, InvalidContainerLabels) {
  EXPECT_THAT(SelectorErrors("container: {labels: {}}"),
              ElementsAre("t.yaml:5:27: labels must be a non-empty map of label names to values, "
                          "got an empty map"));
  EXPECT_THAT(SelectorErrors("container: {labels: [app]}"),
              ElementsAre("t.yaml:5:27: labels must be a non-empty map of label names to values, "
                          "got a list"));
  EXPECT_THAT(SelectorErrors("container: {labels: {app: [a, b]}}"),
              ElementsAre("t.yaml:5:33: value of label \"app\" must be a string, got a list"));
  EXPECT_THAT(SelectorErrors("container: {labels: {\"\": x}}"),
              ElementsAre("t.yaml:5:28: label names must be non-empty strings"));
  EXPECT_THAT(SelectorErrors("container: {labels: {a: x, a: y}}"),
              ElementsAre("t.yaml:5:34: duplicate label \"a\""));
}

// A workload whose only allow entry (line 8, first key at column 11) is `entry`.
std::string WithAllow(const std::string& entry, const std::string& mode = "monitor") {
  return OneWorkload("    mode: " + mode +
                     "\n    selector: {cgroup: /a}\n    egress:\n      allow:\n        - " + entry +
                     "\n");
}

TEST(HostAllowTest, ParsesHostTlsAndLowerCases) {
  const LoadResult r = Parse(WithAllow(
      "{host: \"*.Example.COM\", ports: [443], tls: required, comment: \"API by name\"}"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const EgressAllow& a = r.rules.workloads[0].allow[0];
  EXPECT_EQ(a.host_glob, "*.example.com");
  EXPECT_THAT(a.ports, ElementsAre(PortRange{443, 443}));
  EXPECT_TRUE(a.tls_required);
  EXPECT_EQ(a.comment, "API by name");
  for (const std::string glob : {"api-1.example.com", "s3.*.amazonaws.com", "db?.internal", "a"}) {
    EXPECT_TRUE(Parse(WithAllow("host: \"" + glob + "\"")).ok()) << glob;
  }
  // Learning and monitoring workloads may name hosts; only enforce cannot (below).
  EXPECT_TRUE(Parse(WithAllow("host: a.example.com", "learn")).ok());
  const LoadResult cidr_tls = Parse(WithAllow("{cidr: 10.0.0.0/8, tls: optional}", "enforce"));
  ASSERT_TRUE(cidr_tls.ok()) << Errors(cidr_tls)[0];
  EXPECT_FALSE(cidr_tls.rules.workloads[0].allow[0].tls_required);
  EXPECT_FALSE(cidr_tls.rules.workloads[0].allow[0].host_glob.has_value());
}

TEST(HostAllowTest, InvalidHostGlobs) {
  const std::string alphabet = " is not allowed (use letters, digits, '-', '.', '*' and '?')";
  EXPECT_THAT(ParseErrors(WithAllow("host: \"\"")), ElementsAre("t.yaml:8:17: host glob is empty"));
  EXPECT_THAT(ParseErrors(WithAllow("host: a_b.example.com")),
              ElementsAre("t.yaml:8:17: invalid host glob \"a_b.example.com\": '_'" + alphabet));
  EXPECT_THAT(ParseErrors(WithAllow("host: \"a[b].example.com\"")),
              ElementsAre("t.yaml:8:17: invalid host glob \"a[b].example.com\": '['" + alphabet));
  EXPECT_THAT(ParseErrors(WithAllow("host: \"a\\tb\"")),
              ElementsAre("t.yaml:8:17: invalid host glob \"a\tb\": '\\x09'" + alphabet));
  EXPECT_THAT(ParseErrors(WithAllow("host: example.com.")),
              ElementsAre("t.yaml:8:17: invalid host glob \"example.com.\": remove the trailing "
                          "\".\""));
  EXPECT_THAT(ParseErrors(WithAllow("host: .example.com")),
              ElementsAre("t.yaml:8:17: invalid host glob \".example.com\": a name does not start "
                          "with \".\"; write \"*.example.com\" for the names under example.com"));
  EXPECT_THAT(ParseErrors(WithAllow("host: a..example.com")),
              ElementsAre("t.yaml:8:17: invalid host glob \"a..example.com\": empty label between "
                          "two dots"));
  const std::string long_name = std::string(250, 'a') + ".com";
  EXPECT_THAT(ParseErrors(WithAllow("host: " + long_name)),
              ElementsAre("t.yaml:8:17: invalid host glob \"" + long_name +
                          "\": longer than 253 characters"));
  EXPECT_THAT(ParseErrors(WithAllow("host: \"*\"")),
              ElementsAre("t.yaml:8:17: host glob \"*\" matches every name: name the hosts "
                          "(\"*.example.com\")"));
  EXPECT_THAT(ParseErrors(WithAllow("host: 192.0.2.1")),
              ElementsAre("t.yaml:8:17: host glob \"192.0.2.1\" is an address, not a name: use "
                          "cidr"));
  EXPECT_THAT(ParseErrors(WithAllow("host: \"2001:db8::/32\"")),
              ElementsAre("t.yaml:8:17: host glob \"2001:db8::/32\" is an address, not a name: "
                          "use cidr"));
  EXPECT_THAT(ParseErrors(WithAllow("host: [a.example.com]")),
              ElementsAre("t.yaml:8:17: host must be a string, got a list"));
}

TEST(HostAllowTest, CidrAndHostAreExclusive) {
  EXPECT_THAT(ParseErrors(WithAllow("{cidr: 10.0.0.0/8, host: a.example.com}")),
              ElementsAre("t.yaml:8:30: allow entry has both \"cidr\" and \"host\": write one "
                          "entry for each"));
  EXPECT_THAT(ParseErrors(WithAllow("{comment: x}")),
              ElementsAre("t.yaml:8:11: missing required key \"cidr\" or \"host\" in allow "
                          "entry"));
}

// Enforced through the addresses DNS answers give for the name (enforce::NameGrants).
TEST(HostAllowTest, HostEntriesCanBeEnforced) {
  const LoadResult r = Parse(WithAllow("host: a.example.com", "enforce"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_EQ(r.rules.workloads[0].allow[0].host_glob, "a.example.com");
}

TEST(HostAllowTest, InvalidTls) {
  EXPECT_THAT(ParseErrors(WithAllow("{cidr: 10.0.0.0/8, tls: maybe}")),
              ElementsAre("t.yaml:8:35: invalid tls \"maybe\": expected required or optional"));
  EXPECT_THAT(ParseErrors(WithAllow("{cidr: 10.0.0.0/8, tls: true}")),
              ElementsAre("t.yaml:8:35: invalid tls \"true\": expected required or optional"));
  EXPECT_THAT(ParseErrors(WithAllow("{cidr: 10.0.0.0/8, tls: [required]}")),
              ElementsAre("t.yaml:8:35: tls must be a string, got a list"));
}

// A workload whose only budget (line 6, column 9) is `budget`.
std::string WithBudget(const std::string& budget) {
  return OneWorkload("    selector: {cgroup: /a}\n    budgets:\n      - " + budget + "\n");
}

TEST(BudgetTest, ByteSizesAndWindows) {
  const std::vector<std::pair<std::string, uint64_t>> sizes = {{"1", 1},
                                                               {"1048576", 1048576},
                                                               {"100B", 100},
                                                               {"1KB", 1000},
                                                               {"\"1 KiB\"", 1024},
                                                               {"10MB", 10000000},
                                                               {"500MiB", uint64_t{500} << 20},
                                                               {"2GiB", uint64_t{2} << 30},
                                                               {"3GB", 3000000000},
                                                               {"1TB", 1000000000000},
                                                               {"1TiB", uint64_t{1} << 40}};
  for (const auto& [text, bytes] : sizes) {
    const LoadResult r = Parse(WithBudget("{to: \"*\", bytes: " + text + "}"));
    ASSERT_TRUE(r.ok()) << text << ": " << Errors(r)[0];
    EXPECT_EQ(r.rules.workloads[0].budgets[0].bytes, bytes) << text;
    EXPECT_EQ(r.rules.workloads[0].budgets[0].window_s, 3600u) << text;
  }
  const std::vector<std::pair<std::string, uint32_t>> windows = {
      {"1", 1},     {"3600", 3600}, {"90s", 90},     {"30m", 1800},
      {"1h", 3600}, {"1d", 86400},  {"1h30m", 5400}, {"7d", 604800}};
  for (const auto& [text, seconds] : windows) {
    const LoadResult r = Parse(WithBudget("{to: \"*\", bytes: 1, window: " + text + "}"));
    ASSERT_TRUE(r.ok()) << text << ": " << Errors(r)[0];
    EXPECT_EQ(r.rules.workloads[0].budgets[0].window_s, seconds) << text;
  }
}

TEST(BudgetTest, Destinations) {
  const LoadResult r = Parse(OneWorkload(R"(    selector: {cgroup: /a}
    budgets:
      - {to: "*", bytes: 1}
      - {to: 10.0.0.0/8, bytes: 2}
      - {to: "2001:db8::1", bytes: 3}
      - {to: "*.S3.amazonaws.com", bytes: 4}
)"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const std::vector<ByteBudget>& b = r.rules.workloads[0].budgets;
  ASSERT_EQ(b.size(), 4u);
  EXPECT_TRUE(b[0].to.any());
  EXPECT_EQ(b[1].to.cidr->ToString(), "10.0.0.0/8");
  EXPECT_FALSE(b[1].to.host_glob.has_value());
  EXPECT_EQ(b[2].to.cidr->ToString(), "2001:db8::1/128");
  EXPECT_EQ(b[3].to.host_glob, "*.s3.amazonaws.com");
  EXPECT_FALSE(b[3].to.cidr.has_value());
  EXPECT_EQ(b[3].loc.line, 9);
  EXPECT_EQ(b[3].loc.column, 9);
}

TEST(BudgetTest, Errors) {
  const std::string units =
      "\": expected a whole number with an optional unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB "
      "(\"500MiB\")";
  for (const std::string bad :
       {"1.5GiB", "10mb", "-1", "1 MiB ", "MiB", "99999999999999999999", "20000000TiB", "1  KB"}) {
    EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: \"" + bad + "\"}")),
                ElementsAre("t.yaml:6:26: invalid bytes \"" + bad + units))
        << bad;
  }
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 0}")),
              ElementsAre("t.yaml:6:26: bytes must be more than 0"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 1GiB, window: 0}")),
              ElementsAre("t.yaml:6:40: window \"0\" is out of range: 1..604800 seconds"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 1GiB, window: 8d}")),
              ElementsAre("t.yaml:6:40: window \"8d\" is out of range: 1..604800 seconds"));
  const std::string duration = "\": expected seconds or a duration such as \"30m\", \"1h\", \"1d\"";
  for (const std::string bad : {"1w", "1h30", "h", "1.5h", "-5", "99999999999999999999d"}) {
    EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 1GiB, window: \"" + bad + "\"}")),
                ElementsAre("t.yaml:6:40: invalid window \"" + bad + duration))
        << bad;
  }
  EXPECT_THAT(ParseErrors(WithBudget("{bytes: 1GiB}")),
              ElementsAre("t.yaml:6:9: missing required key \"to\" in budget (\"*\" for all "
                          "egress)"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\"}")),
              ElementsAre("t.yaml:6:9: missing required key \"bytes\" in budget"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: 10.0.0.1/8, bytes: 1}")),
              ElementsAre("t.yaml:6:14: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: 10.0.0.300, bytes: 1}")),
              ElementsAre("t.yaml:6:14: invalid CIDR \"10.0.0.300\": \"10.0.0.300\" is not an "
                          "IPv4 address"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: bad_host, bytes: 1}")),
              ElementsAre("t.yaml:6:14: invalid host glob \"bad_host\": '_' is not allowed (use "
                          "letters, digits, '-', '.', '*' and '?')"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 1, per: day}")),
              ElementsAre("t.yaml:6:29: unknown key \"per\" in budget; allowed keys: to, bytes, "
                          "window"));
  EXPECT_THAT(ParseErrors(WithBudget("1GiB")),
              ElementsAre("t.yaml:6:9: budget must be a map with to, bytes and window, got a "
                          "scalar"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {cgroup: /a}\n    budgets: {to: x}\n")),
              ElementsAre("t.yaml:5:14: budgets must be a list of budget maps, got a map"));
}

TEST(CrmTest, HostsAndCidrs) {
  const LoadResult r = Parse(R"(version: 1
crm:
  hosts: ["*.my.salesforce.com", Login.Salesforce.com, login.salesforce.com]
  cidrs: [192.0.2.0/24, "2001:db8::/32"]
)");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  // Lower-cased, and the repeated name kept once.
  EXPECT_THAT(r.rules.crm.host_globs, ElementsAre("*.my.salesforce.com", "login.salesforce.com"));
  ASSERT_EQ(r.rules.crm.cidrs.size(), 2u);
  EXPECT_EQ(r.rules.crm.cidrs[1].ToString(), "2001:db8::/32");
  EXPECT_EQ(r.rules.crm.loc.line, 2);
  EXPECT_EQ(r.rules.crm.loc.column, 1);
  EXPECT_TRUE(Parse("version: 1\ncrm:\n").ok());
  EXPECT_TRUE(Parse("version: 1\ncrm: {hosts: [], cidrs: []}\n").ok());
}

TEST(CrmTest, Errors) {
  EXPECT_THAT(ParseErrors("version: 1\ncrm: [a]\n"),
              ElementsAre("t.yaml:2:6: crm must be a map with hosts and/or cidrs, got a list"));
  EXPECT_THAT(ParseErrors("version: 1\ncrm:\n  hosts: x.example.com\n"),
              ElementsAre("t.yaml:3:10: hosts must be a list of host globs, got a scalar"));
  EXPECT_THAT(ParseErrors("version: 1\ncrm:\n  hosts: [\"*\", [a], a_b]\n"),
              ElementsAre("t.yaml:3:11: host glob \"*\" matches every name: name the hosts "
                          "(\"*.example.com\")",
                          "t.yaml:3:16: host glob must be a string, got a list",
                          "t.yaml:3:21: invalid host glob \"a_b\": '_' is not allowed (use "
                          "letters, digits, '-', '.', '*' and '?')"));
  EXPECT_THAT(ParseErrors("version: 1\ncrm:\n  cidrs: [10.0.0.1/8, {a: 1}]\n"),
              ElementsAre("t.yaml:3:11: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
                          "t.yaml:3:23: cidr must be a string, got a map"));
  EXPECT_THAT(ParseErrors("version: 1\ncrm:\n  cidrs: 10.0.0.0/8\n"),
              ElementsAre("t.yaml:3:10: cidrs must be a list of CIDRs, got a scalar"));
  EXPECT_THAT(ParseErrors("version: 1\ncrm:\n  urls: []\n"),
              ElementsAre("t.yaml:3:3: unknown key \"urls\" in crm; allowed keys: hosts, cidrs"));
}

TEST(SinkTest, Errors) {
  const std::string head = "version: 1\nsinks:\n  - ";
  EXPECT_THAT(ParseErrors(head + "{kind: siem, host: a.example.com}\n"),
              ElementsAre("t.yaml:3:5: missing required key \"name\" in sink"));
  EXPECT_THAT(ParseErrors(head + "{name: s, kind: syslog, host: a.example.com}\n"),
              ElementsAre("t.yaml:3:21: invalid sink kind \"syslog\": expected log or siem"));
  EXPECT_THAT(ParseErrors(head + "{name: s}\n"),
              ElementsAre("t.yaml:3:5: missing required key \"cidr\" or \"host\" in sink"));
  EXPECT_THAT(ParseErrors(head + "{name: s, host: a.example.com, cidr: 10.0.0.0/8}\n"),
              ElementsAre("t.yaml:3:15: sink has both \"cidr\" and \"host\": write one sink for "
                          "each"));
  EXPECT_THAT(ParseErrors(head + "{name: \"a b\", host: a.example.com}\n"),
              ElementsAre("t.yaml:3:12: invalid sink name \"a b\": use letters, digits, '_', '.' "
                          "and '-' only"));
  EXPECT_THAT(ParseErrors(head + "{name: s, host: a.example.com, ports: []}\n"),
              ElementsAre("t.yaml:3:43: ports must be a non-empty list, got an empty list; omit "
                          "\"ports\" to allow any port"));
  EXPECT_THAT(ParseErrors(head + "{name: s, cidr: 10.0.0.0/33}\n"),
              ElementsAre("t.yaml:3:21: invalid CIDR \"10.0.0.0/33\": prefix length must be a "
                          "number 0..32"));
  EXPECT_THAT(
      ParseErrors(head + "{name: s, host: a.example.com}\n  - {name: s, cidr: 10.0.0.0/8}\n"),
      ElementsAre("t.yaml:4:12: duplicate sink name \"s\" (first defined at t.yaml:3:12)"));
  EXPECT_THAT(ParseErrors("version: 1\nsinks: {name: s}\n"),
              ElementsAre("t.yaml:2:8: sinks must be a list of sink maps, got a map"));
  EXPECT_THAT(ParseErrors(head + "s\n"), ElementsAre("t.yaml:3:5: sink must be a map, got a "
                                                     "scalar"));
  EXPECT_THAT(ParseErrors(head + "{name: s, host: a.example.com, url: x}\n"),
              ElementsAre("t.yaml:3:36: unknown key \"url\" in sink; allowed keys: name, kind, "
                          "host, cidr, ports"));
}

TEST(DetectorsTest, SettingsAndDefaults) {
  const LoadResult r = Parse(R"(version: 1
detectors:
  cache_dump:
  unexpected_egress: {enabled: false, severity: informational}
  exfil_chain:
    severity: 6
    params: {min_bytes: 2MiB, ratio: 0.25, window_s: 1h}
  volume_anomaly:
    params: {default_budget_bytes: 0, window_s: 86400}
  dns_tunnel:
    params: {min_entropy: 4, max_queries_per_min: 1e3}
)");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const RuleSet& rules = r.rules;
  ASSERT_NE(rules.Detector("cache_dump"), nullptr);
  EXPECT_TRUE(rules.Detector("cache_dump")->enabled);
  EXPECT_FALSE(rules.Detector("cache_dump")->severity.has_value());
  EXPECT_EQ(rules.Detector("cache_dump")->loc.line, 3);
  EXPECT_FALSE(rules.Detector("unexpected_egress")->enabled);
  EXPECT_EQ(rules.Detector("unexpected_egress")->severity, 1);
  EXPECT_EQ(rules.Detector("exfil_chain")->severity, 6);
  EXPECT_EQ(rules.Param("exfil_chain", "min_bytes"), 2097152);
  EXPECT_EQ(rules.Param("exfil_chain", "ratio"), 0.25);
  EXPECT_EQ(rules.Param("exfil_chain", "window_s"), 3600);
  EXPECT_EQ(rules.Param("volume_anomaly", "default_budget_bytes"), 0);
  EXPECT_EQ(rules.Param("volume_anomaly", "window_s"), 86400);
  EXPECT_EQ(rules.Param("dns_tunnel", "min_entropy"), 4);
  EXPECT_EQ(rules.Param("dns_tunnel", "max_queries_per_min"), 1000);
  EXPECT_EQ(rules.Param("dns_tunnel", "min_label_len"), 40);
  EXPECT_EQ(rules.Detector("tool_egress"), nullptr);
  EXPECT_EQ(rules.aggregate_window_s, 60u);  // the default
}

TEST(DetectorsTest, SeverityNamesAndNumbers) {
  const std::vector<std::pair<std::string, int>> severities = {
      {"informational", 1}, {"low", 2},   {"medium", 3}, {"high", 4},
      {"critical", 5},      {"fatal", 6}, {"1", 1},      {"6", 6}};
  for (const auto& [text, id] : severities) {
    const LoadResult r = Parse("version: 1\ndetectors:\n  cache_dump: {severity: " + text + "}\n");
    ASSERT_TRUE(r.ok()) << text << ": " << Errors(r)[0];
    EXPECT_EQ(r.rules.Detector("cache_dump")->severity, id) << text;
  }
  for (const std::string bad : {"severe", "High", "0", "7", "4.0"}) {
    EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {severity: " + bad + "}\n"),
                ElementsAre("t.yaml:3:26: invalid severity \"" + bad +
                            "\": expected informational, low, medium, high, critical, fatal or "
                            "1..6"))
        << bad;
  }
}

TEST(DetectorsTest, Errors) {
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  port_scan: {}\n"),
              ElementsAre("t.yaml:3:3: unknown detector \"port_scan\"; valid ids: "
                          "unexpected_egress, cache_dump, log_export, exfil_chain, "
                          "archive_staging, plaintext_sync, pii_egress, token_misuse, "
                          "volume_anomaly, dns_tunnel, tool_egress"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {}\n  cache_dump: {}\n"),
              ElementsAre("t.yaml:4:3: detector \"cache_dump\" is configured twice (first at "
                          "t.yaml:3:3)"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors: [cache_dump]\n"),
              ElementsAre("t.yaml:2:12: detectors must be a map from detector id to settings, got "
                          "a list"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  ? [a]\n  : {}\n"),
              ElementsAre("t.yaml:3:5: keys of detectors must be strings, got a list"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: off\n"),
              ElementsAre("t.yaml:3:15: settings of detector cache_dump must be a map with "
                          "enabled, severity, exceptions, params; got a scalar"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {enable: false}\n"),
              ElementsAre("t.yaml:3:16: unknown key \"enable\" in detector cache_dump; allowed "
                          "keys: enabled, severity, exceptions, params"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {enabled: maybe}\n"),
              ElementsAre("t.yaml:3:25: enabled must be true or false, got \"maybe\""));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {enabled: [true]}\n"),
              ElementsAre("t.yaml:3:25: enabled must be true or false, got a list"));
}

// A rule set with workload "w" and one exception of cache_dump (line 7, column 9).
std::string WithException(const std::string& exception) {
  return "version: 1\nworkloads:\n  - {name: w, selector: {cgroup: /w}}\ndetectors:\n"
         "  cache_dump:\n    exceptions:\n      - " +
         exception + "\n";
}

TEST(ExceptionsTest, Forms) {
  const LoadResult r = Parse(WithException("{workload: w, to: \"*.Example.com\", reason: x}"));
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  const DetectorException& e = r.rules.Detector("cache_dump")->exceptions[0];
  EXPECT_EQ(e.workload, "w");
  EXPECT_EQ(e.to.host_glob, "*.example.com");
  EXPECT_EQ(e.reason, "x");
  EXPECT_EQ(e.loc.line, 7);
  EXPECT_EQ(e.loc.column, 9);
  for (const std::string ok : {"{to: 10.0.0.0/8, reason: r}", "{workload: w, reason: r}",
                               "{workload: w, to: \"*\", reason: r}"}) {
    EXPECT_TRUE(Parse(WithException(ok)).ok()) << ok;
  }
  const LoadResult any_workload = Parse(WithException("{to: 10.0.0.0/8, reason: r}"));
  EXPECT_EQ(any_workload.rules.Detector("cache_dump")->exceptions[0].workload, "");
  // The workload may be defined after the detectors that name it.
  EXPECT_TRUE(Parse(R"(version: 1
detectors:
  cache_dump:
    exceptions: [{workload: later, reason: r}]
workloads:
  - {name: later, selector: {cgroup: /l}}
)")
                  .ok());
}

TEST(ExceptionsTest, Errors) {
  EXPECT_THAT(ParseErrors(WithException("{workload: w}")),
              ElementsAre("t.yaml:7:9: missing required key \"reason\" in exception (say why this "
                          "is not a finding)"));
  EXPECT_THAT(ParseErrors(WithException("{workload: w, reason: \"  \"}")),
              ElementsAre("t.yaml:7:31: reason must not be empty: say why this is not a finding"));
  for (const std::string neither : {"{reason: r}", "{to: \"*\", reason: r}"}) {
    EXPECT_THAT(ParseErrors(WithException(neither)),
                ElementsAre("t.yaml:7:9: exception has neither workload nor to: it would silence "
                            "the detector everywhere; use enabled: false"))
        << neither;
  }
  EXPECT_THAT(ParseErrors(WithException("{workload: nobody, reason: r}")),
              ElementsAre("t.yaml:7:20: exception names workload \"nobody\", which no rule file "
                          "of the set defines"));
  EXPECT_THAT(ParseErrors(WithException("{workload: \"a b\", reason: r}")),
              ElementsAre("t.yaml:7:20: invalid workload name \"a b\": use letters, digits, '_', "
                          "'.' and '-' only"));
  EXPECT_THAT(ParseErrors(WithException("{workload: w, to: 10.0.0.1/8, reason: r}")),
              ElementsAre("t.yaml:7:27: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)"));
  EXPECT_THAT(ParseErrors(WithException("{workload: w, reason: r, until: tomorrow}")),
              ElementsAre("t.yaml:7:34: unknown key \"until\" in exception; allowed keys: "
                          "workload, to, reason"));
  EXPECT_THAT(ParseErrors(WithException("w")),
              ElementsAre("t.yaml:7:9: exception must be a map with workload, to and reason, got "
                          "a scalar"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump:\n    exceptions: {reason: r}\n"),
              ElementsAre("t.yaml:4:17: exceptions must be a list of exception maps, got a map"));
}

// Params of exfil_chain (line 4, first key at column 14).
std::string WithParams(const std::string& params, const std::string& detector = "exfil_chain") {
  return "version: 1\ndetectors:\n  " + detector + ":\n    params: " + params + "\n";
}

TEST(ParamsTest, Errors) {
  EXPECT_THAT(ParseErrors(WithParams("{max_bytes: 1}")),
              ElementsAre("t.yaml:4:14: unknown param \"max_bytes\" of detector exfil_chain; "
                          "valid params: min_bytes, ratio, window_s"));
  EXPECT_THAT(ParseErrors(WithParams("{x: 1}", "tool_egress")),
              ElementsAre("t.yaml:4:14: detector tool_egress takes no params (got \"x\")"));
  EXPECT_THAT(ParseErrors(WithParams("{ratio: 0}")),
              ElementsAre("t.yaml:4:21: param ratio of detector exfil_chain is 0; valid range "
                          "0.01..100"));
  EXPECT_THAT(ParseErrors(WithParams("{window_s: 2d}")),
              ElementsAre("t.yaml:4:24: param window_s of detector exfil_chain is 172800; valid "
                          "range 1..86400"));
  EXPECT_THAT(ParseErrors(WithParams("{min_bytes: 0}")),
              ElementsAre("t.yaml:4:25: param min_bytes of detector exfil_chain is 0; valid range "
                          "1..1000000000000000"));
  for (const std::string bad : {"half", "inf", "nan", "1KiB", "\"\""}) {
    const std::string shown = bad == "\"\"" ? "" : bad;
    EXPECT_THAT(ParseErrors(WithParams("{ratio: " + bad + "}")),
                ElementsAre("t.yaml:4:21: param ratio must be a number, got \"" + shown + "\""))
        << bad;
  }
  EXPECT_THAT(ParseErrors(WithParams("{ratio: [1]}")),
              ElementsAre("t.yaml:4:21: param ratio must be a number, got a list"));
  EXPECT_THAT(ParseErrors(WithParams("{ratio: 1, ratio: 2}")),
              ElementsAre("t.yaml:4:24: duplicate key \"ratio\" in params (first at line 4)"));
  EXPECT_THAT(ParseErrors(WithParams("[1]")),
              ElementsAre("t.yaml:4:13: params must be a map from name to number, got a list"));
}

TEST(SchemaV1TypesTest, ValuesOfTheWrongKind) {
  EXPECT_THAT(SelectorErrors("container: {id: [a]}"),
              ElementsAre("t.yaml:5:23: container id must be a string, got a list"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: [a], bytes: 1}")),
              ElementsAre("t.yaml:6:14: to must be a string, got a list"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: [1]}")),
              ElementsAre("t.yaml:6:26: bytes must be a size, got a list"));
  EXPECT_THAT(ParseErrors(WithBudget("{to: \"*\", bytes: 1, window: {h: 1}}")),
              ElementsAre("t.yaml:6:37: window must be a duration, got a map"));
  EXPECT_THAT(ParseErrors("version: 1\nalerts:\n  aggregate_window:\n"),
              ElementsAre("t.yaml:3:3: aggregate_window must be a duration, got null"));
  EXPECT_THAT(ParseErrors("version: 1\ndetectors:\n  cache_dump: {severity: [high]}\n"),
              ElementsAre("t.yaml:3:26: severity must be a severity name or 1..6, got a list"));
  EXPECT_THAT(ParseErrors(WithException("{workload: w, reason: [a]}")),
              ElementsAre("t.yaml:7:31: reason must be a string, got a list"));
  EXPECT_THAT(ParseErrors(WithException("{workload: [w], reason: r}")),
              ElementsAre("t.yaml:7:20: workload must be a string, got a list"));
  EXPECT_THAT(ParseErrors(WithParams("{[a]: 1}")),
              ElementsAre("t.yaml:4:14: keys of params must be strings, got a list"));
  EXPECT_THAT(ParseErrors("version: 1\nsinks:\n  - {name: s, kind: [log], cidr: 10.0.0.0/8}\n"),
              ElementsAre("t.yaml:3:21: kind must be a string, got a list"));
}

TEST(AlertsTest, AggregateWindow) {
  const std::vector<std::pair<std::string, uint32_t>> windows = {
      {"0", 0}, {"0s", 0}, {"60", 60}, {"5m", 300}, {"1d", 86400}, {"86400", 86400}};
  for (const auto& [text, seconds] : windows) {
    const LoadResult r = Parse("version: 1\nalerts:\n  aggregate_window: " + text + "\n");
    ASSERT_TRUE(r.ok()) << text << ": " << Errors(r)[0];
    EXPECT_EQ(r.rules.aggregate_window_s, seconds) << text;
  }
  EXPECT_EQ(Parse("version: 1\nalerts: {}\n").rules.aggregate_window_s, 60u);
}

TEST(AlertsTest, Errors) {
  EXPECT_THAT(ParseErrors("version: 1\nalerts:\n  aggregate_window: 86401\n"),
              ElementsAre("t.yaml:3:21: aggregate_window \"86401\" is out of range: 0..86400 "
                          "seconds"));
  EXPECT_THAT(ParseErrors("version: 1\nalerts:\n  aggregate_window: soon\n"),
              ElementsAre("t.yaml:3:21: invalid aggregate_window \"soon\": expected seconds or a "
                          "duration such as \"30m\", \"1h\", \"1d\""));
  EXPECT_THAT(ParseErrors("version: 1\nalerts:\n  window: 5\n"),
              ElementsAre("t.yaml:3:3: unknown key \"window\" in alerts; allowed keys: "
                          "aggregate_window"));
  EXPECT_THAT(ParseErrors("version: 1\nalerts: 60\n"),
              ElementsAre("t.yaml:2:9: alerts must be a map, got a scalar"));
}

TEST(RuleSetTest, ParamDefaultsComeFromTheTable) {
  const RuleSet empty;
  for (const DetectorParamSpec& spec : kDetectorParams) {
    EXPECT_EQ(empty.Param(spec.detector, spec.name), spec.default_value)
        << spec.detector << "." << spec.name;
    // The table itself: every detector exists and every default is within its range.
    EXPECT_TRUE(std::any_of(std::begin(kDetectorIds), std::end(kDetectorIds),
                            [&spec](const char* id) { return std::string(id) == spec.detector; }))
        << spec.detector;
    EXPECT_GE(spec.default_value, spec.min) << spec.name;
    EXPECT_LE(spec.default_value, spec.max) << spec.name;
  }
  EXPECT_EQ(empty.Detector("cache_dump"), nullptr);
}

TEST(RuleSetDeathTest, UnknownParamIsAProgrammingError) {
  const RuleSet empty;
  EXPECT_DEATH(empty.Param("cache_dump", "min_byte"),
               "detector cache_dump asked for unknown param min_byte");
  EXPECT_DEATH(empty.Param("tool_egress", "min_bytes"), "unknown param min_bytes");
}

TEST(SchemaV1FilesTest, EveryNewErrorOfAFileInOrder) {
  const std::string f = "rules/testdata/v1_errors.yaml";
  const LoadResult r = LoadRules(f);
  EXPECT_THAT(r.rules.workloads, IsEmpty());
  EXPECT_THAT(
      Errors(r),
      ElementsAre(
          f + ":6:13: invalid unit \"crm-sync\": expected a systemd unit name (letters, digits "
              "and \":_.\\@-\") ending in .service, .scope, .slice or .socket",
          f + ":7:23: invalid container id \"ABCDEF012345\": expected 12 to 64 lower-case hex "
              "digits (the id or a prefix of it)",
          f + ":11:30: allow entry has both \"cidr\" and \"host\": write one entry for each",
          f + ":12:18: invalid host glob \"bad_name.example.com\": '_' is not allowed (use "
              "letters, digits, '-', '.', '*' and '?')",
          f + ":12:47: invalid tls \"maybe\": expected required or optional",
          f + ":14:26: invalid bytes \"1.5GiB\": expected a whole number with an optional unit: "
              "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (\"500MiB\")",
          f + ":15:40: window \"8d\" is out of range: 1..604800 seconds",
          f + ":17:11: host glob \"*\" matches every name: name the hosts (\"*.example.com\")",
          f + ":19:21: invalid sink kind \"syslog\": expected log or siem",
          f + ":22:15: invalid severity \"severe\": expected informational, low, medium, high, "
              "critical, fatal or 1..6",
          f + ":23:25: param min_bytes of detector cache_dump is 0; valid range "
              "1..1000000000000000",
          f + ":23:28: unknown param \"ratio\" of detector cache_dump; valid params: min_bytes, "
              "window_s",
          f + ":25:9: missing required key \"reason\" in exception (say why this is not a "
              "finding)",
          f + ":26:3: unknown detector \"port_scan\"; valid ids: unexpected_egress, cache_dump, "
              "log_export, exfil_chain, archive_staging, plaintext_sync, pii_egress, "
              "token_misuse, volume_anomaly, dns_tunnel, tool_egress",
          f + ":28:21: aggregate_window \"2d\" is out of range: 0..86400 seconds"));
}

TEST(SchemaV1FilesTest, SettingsSpanFiles) {
  const LoadResult r = LoadRules("rules/testdata/cross_good");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  // crm entries of both files add up (the repeated glob once); loc is the first file's.
  EXPECT_THAT(r.rules.crm.host_globs, ElementsAre("*.my.salesforce.com", "login.salesforce.com"));
  ASSERT_EQ(r.rules.crm.cidrs.size(), 1u);
  EXPECT_EQ(r.rules.crm.loc.file, "rules/testdata/cross_good/a.yaml");
  EXPECT_EQ(r.rules.crm.loc.line, 3);
  // The exception of a.yaml names a workload of b.yaml.
  const DetectorConfig* token = r.rules.Detector("token_misuse");
  ASSERT_NE(token, nullptr);
  ASSERT_EQ(token->exceptions.size(), 1u);
  EXPECT_EQ(token->exceptions[0].workload, "late");
  EXPECT_EQ(token->exceptions[0].reason, "SSO token exchange");
  EXPECT_EQ(r.rules.workloads[0].selector.unit, "late.service");
}

TEST(SchemaV1FilesTest, OnePlacePerSettingAcrossFiles) {
  const std::string a = "rules/testdata/cross_bad/a.yaml";
  const std::string b = "rules/testdata/cross_bad/b.yaml";
  const LoadResult r = LoadRules("rules/testdata/cross_bad");
  EXPECT_THAT(r.rules.files, IsEmpty());
  // The unknown workload is found once every file is read, yet reported in a.yaml's place.
  EXPECT_THAT(
      Errors(r),
      ElementsAre(a + ":7:20: exception names workload \"ghost\", which no rule file of the set "
                      "defines",
                  b + ":3:12: duplicate sink name \"siem\" (first defined at " + a + ":3:12)",
                  b + ":5:3: detector \"cache_dump\" is configured twice (first at " + a + ":5:3)",
                  b + ":7:3: aggregate_window is already set (first at " + a + ":9:3)"));
}

// ---- loading files and directories ----

TEST(LoadRulesTest, FullFile) {
  const LoadResult r = LoadRules("rules/testdata/full.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_THAT(r.rules.files, ElementsAre("rules/testdata/full.yaml"));
  ASSERT_EQ(r.rules.workloads.size(), 4u);
  const Workload& crm = r.rules.workloads[0];
  EXPECT_EQ(crm.name, "crm-sync");
  EXPECT_EQ(crm.mode, Mode::kEnforce);
  EXPECT_EQ(crm.loc.file, "rules/testdata/full.yaml");
  EXPECT_EQ(crm.loc.line, 4);
  ASSERT_EQ(crm.allow.size(), 2u);
  EXPECT_EQ(crm.allow[1].cidr.ToString(), "2001:db8:20::/48");
  const Workload& tools = r.rules.workloads[1];
  EXPECT_EQ(tools.id, 1u);
  EXPECT_EQ(tools.role, "custom:batch-tools");
  EXPECT_EQ(tools.selector.exe_glob, "/opt/tools/*");
  EXPECT_FALSE(tools.selector.cgroup_glob.has_value());
  EXPECT_FALSE(tools.selector.has_cgroup_side());

  const Workload& worker = r.rules.workloads[2];
  EXPECT_EQ(worker.selector.unit, "crm-sync@worker.service");
  EXPECT_EQ(worker.selector.container_id, "0123456789abcdef");
  EXPECT_TRUE(worker.selector.has_cgroup_side());
  ASSERT_EQ(worker.allow.size(), 2u);
  EXPECT_EQ(worker.allow[0].host_glob, "*.my.salesforce.com");  // lower-cased
  EXPECT_TRUE(worker.allow[0].tls_required);
  EXPECT_EQ(worker.allow[0].comment, "CRM API by name");
  EXPECT_FALSE(worker.allow[1].host_glob.has_value());
  EXPECT_FALSE(worker.allow[1].tls_required);  // tls: optional
  ASSERT_EQ(worker.budgets.size(), 3u);
  EXPECT_EQ(worker.budgets[0].to.host_glob, "s3.*.amazonaws.com");
  EXPECT_EQ(worker.budgets[0].bytes, uint64_t{2} << 30);
  EXPECT_EQ(worker.budgets[0].window_s, 3600u);
  EXPECT_EQ(worker.budgets[0].loc.line, 36);
  EXPECT_EQ(worker.budgets[1].to.cidr->ToString(), "203.0.113.0/24");
  EXPECT_EQ(worker.budgets[1].bytes, 500000000u);
  EXPECT_EQ(worker.budgets[1].window_s, 3600u);  // the default
  EXPECT_TRUE(worker.budgets[2].to.any());
  EXPECT_EQ(worker.budgets[2].window_s, 90u);
  EXPECT_EQ(r.rules.workloads[3].mode, Mode::kLearn);

  EXPECT_THAT(r.rules.crm.host_globs, ElementsAre("*.my.salesforce.com", "login.salesforce.com"));
  ASSERT_EQ(r.rules.crm.cidrs.size(), 1u);
  EXPECT_EQ(r.rules.crm.loc.line, 50);

  ASSERT_EQ(r.rules.sinks.size(), 2u);
  EXPECT_EQ(r.rules.sinks[0].name, "siem");
  EXPECT_EQ(r.rules.sinks[0].kind, SinkDestination::Kind::kSiem);  // the default
  EXPECT_EQ(r.rules.sinks[0].to.host_glob, "siem.example.net");
  EXPECT_THAT(r.rules.sinks[0].ports, ElementsAre(PortRange{6514, 6514}));
  EXPECT_EQ(r.rules.sinks[1].kind, SinkDestination::Kind::kLog);
  EXPECT_EQ(r.rules.sinks[1].to.cidr->ToString(), "198.51.100.30/32");
  EXPECT_THAT(r.rules.sinks[1].ports, IsEmpty());

  ASSERT_EQ(r.rules.detectors.size(), 3u);
  const DetectorConfig* cache = r.rules.Detector("cache_dump");
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->enabled);
  EXPECT_EQ(cache->severity, 5);
  EXPECT_EQ(cache->loc.line, 61);
  ASSERT_EQ(cache->exceptions.size(), 1u);
  EXPECT_EQ(cache->exceptions[0].workload, "learner");
  EXPECT_EQ(cache->exceptions[0].to.host_glob, "*.backup.example.net");
  EXPECT_EQ(cache->exceptions[0].reason, "nightly cache snapshot to the backup host");
  EXPECT_EQ(r.rules.Param("cache_dump", "min_bytes"), 65536);
  EXPECT_EQ(r.rules.Param("cache_dump", "window_s"), 600);
  EXPECT_EQ(r.rules.Detector("dns_tunnel")->severity, 2);
  EXPECT_EQ(r.rules.Param("dns_tunnel", "min_entropy"), 3.9);
  EXPECT_EQ(r.rules.Param("dns_tunnel", "min_label_len"), 40);  // not set: the default
  EXPECT_FALSE(r.rules.Detector("tool_egress")->enabled);
  EXPECT_EQ(r.rules.Detector("pii_egress"), nullptr);
  EXPECT_EQ(r.rules.aggregate_window_s, 120u);
}

TEST(LoadRulesTest, DirectoryInNameOrder) {
  const LoadResult r = LoadRules("rules/testdata/dir");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  // README.txt and .hidden.yaml (which is not even valid YAML) are skipped.
  EXPECT_THAT(r.rules.files, ElementsAre("rules/testdata/dir/10-first.yaml",
                                         "rules/testdata/dir/15-empty-set.yaml",
                                         "rules/testdata/dir/20-second.yml"));
  ASSERT_EQ(r.rules.workloads.size(), 3u);
  EXPECT_EQ(r.rules.workloads[0].name, "first-a");
  EXPECT_EQ(r.rules.workloads[1].name, "first-b");
  EXPECT_EQ(r.rules.workloads[2].name, "second");
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(r.rules.workloads[i].id, i);
  EXPECT_EQ(r.rules.workloads[2].loc.file, "rules/testdata/dir/20-second.yml");
}

TEST(LoadRulesTest, DuplicateNameAcrossFiles) {
  EXPECT_THAT(Errors(LoadRules("rules/testdata/dup_across")),
              ElementsAre("rules/testdata/dup_across/b.yaml:5:11: duplicate workload name "
                          "\"shared\" (first defined at rules/testdata/dup_across/a.yaml:3:11)"));
}

TEST(LoadRulesTest, OneBadFileRejectsTheWholeSet) {
  const LoadResult r = LoadRules("rules/testdata/mixed");
  EXPECT_THAT(Errors(r), ElementsAre("rules/testdata/mixed/b-bad.yaml:4:11: invalid mode "
                                     "\"block\": expected monitor, enforce or learn"));
  EXPECT_THAT(r.rules.workloads, IsEmpty());
  EXPECT_THAT(r.rules.files, IsEmpty());
}

TEST(LoadRulesTest, SyntaxErrorInFile) {
  EXPECT_THAT(Errors(LoadRules("rules/testdata/syntax_error.yaml")),
              ElementsAre("rules/testdata/syntax_error.yaml:5:1: invalid YAML: end of map flow "
                          "not found"));
}

TEST(LoadRulesTest, NonexistentPath) {
  EXPECT_THAT(Errors(LoadRules("rules/testdata/nope.yaml")),
              ElementsAre("rules/testdata/nope.yaml: cannot open: No such file or directory"));
}

TEST(LoadRulesTest, DirectoryWithoutRuleFiles) {
  const ScopedDir scoped("empty");
  const std::string dir = scoped.str();
  EXPECT_THAT(Errors(LoadRules(dir)),
              ElementsAre(dir + ": no rule files (*.yaml, *.yml) in " + dir));
  WriteFile(dir + "/notes.txt", "x");
  WriteFile(dir + "/.swap.yaml", "version: 1\n");
  fs::create_directories(dir + "/sub.yaml");  // a directory is not a rule file
  EXPECT_THAT(Errors(LoadRules(dir)),
              ElementsAre(dir + ": no rule files (*.yaml, *.yml) in " + dir));
}

TEST(LoadRulesTest, FollowsSymlinksInADirectory) {
  // The layout of a Kubernetes ConfigMap volume.
  const ScopedDir scoped("configmap");
  const std::string dir = scoped.str();
  fs::create_directories(dir + "/..data");
  WriteFile(dir + "/..data/a.yaml", "version: 1\nworkloads:\n  - {name: a, selector: {exe: /a}}\n");
  fs::create_symlink("..data/a.yaml", dir + "/a.yaml");
  const LoadResult r = LoadRules(dir);
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_THAT(r.rules.files, ElementsAre(dir + "/a.yaml"));
}

TEST(LoadRulesTest, FileTooLarge) {
  const ScopedDir scoped("large");
  const std::string dir = scoped.str();
  const std::string path = dir + "/big.yaml";
  WriteFile(path, "version: 1\n" + std::string(5 << 20, '#'));
  EXPECT_THAT(Errors(LoadRules(path)),
              ElementsAre(path + ": rule file is too large (5242891 bytes; at most 4194304)"));
}

TEST(LoadRulesTest, NotARegularFile) {
  const ScopedDir scoped("fifo");
  const std::string dir = scoped.str();
  const std::string path = dir + "/rules.yaml";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  EXPECT_THAT(Errors(LoadRules(path)), ElementsAre(path + ": not a regular file or a directory"));
}

TEST(LoadRulesTest, DefaultPackLoadsCleanly) {
  const LoadResult r = LoadRules("rules/default.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  ASSERT_GE(r.rules.workloads.size(), 3u);
  const Workload& demo = r.rules.workloads[0];
  EXPECT_EQ(demo.name, "demo");
  EXPECT_EQ(demo.selector.cgroup_glob, "/sluice-demo");
  ASSERT_EQ(demo.allow.size(), 1u);
  EXPECT_EQ(demo.allow[0].cidr.ToString(), "127.0.0.0/8");
  // The default pack only watches: nothing in it blocks, whatever --mode says.
  for (const Workload& w : r.rules.workloads) EXPECT_EQ(w.mode, Mode::kMonitor) << w.name;
  // It covers the stack DESIGN describes: the roles, the sensitive file classes, the CRM and
  // the sinks, and shows an exception with its reason.
  std::vector<std::string> names;
  for (const Workload& w : r.rules.workloads) names.push_back(w.name);
  EXPECT_THAT(names, ElementsAre("demo", "crm-sync", "llm-inference", "vector-db", "admin-export"));
  std::vector<std::string> classes;
  for (const FileClass& c : r.rules.file_classes) classes.push_back(c.name);
  EXPECT_THAT(classes, ElementsAre("inference-cache", "vector-index", "inference-log",
                                   "training-data", "crm-credentials"));
  EXPECT_THAT(r.rules.crm.host_globs, ElementsAre("*.my.salesforce.com", "login.salesforce.com"));
  ASSERT_EQ(r.rules.sinks.size(), 2u);
  EXPECT_EQ(r.rules.sinks[0].kind, SinkDestination::Kind::kSiem);
  EXPECT_EQ(r.rules.sinks[1].kind, SinkDestination::Kind::kLog);
  const Workload& crm = r.rules.workloads[1];
  EXPECT_EQ(crm.selector.unit, "crm-sync.service");
  const auto has_host = [&crm](const std::string& glob, bool tls) {
    return std::any_of(crm.allow.begin(), crm.allow.end(), [&](const EgressAllow& a) {
      return a.host_glob == glob && a.tls_required == tls &&
             a.ports == std::vector<PortRange>{{443, 443}};
    });
  };
  EXPECT_TRUE(has_host("*.my.salesforce.com", true));
  EXPECT_TRUE(has_host("login.salesforce.com", true));
  EXPECT_TRUE(has_host("s3.*.amazonaws.com", false));
  EXPECT_TRUE(std::any_of(crm.allow.begin(), crm.allow.end(), [](const EgressAllow& a) {
    return !a.host_glob && a.tls_required;  // Kafka
  }));
  const DetectorConfig* chain = r.rules.Detector("exfil_chain");
  ASSERT_NE(chain, nullptr);
  ASSERT_EQ(chain->exceptions.size(), 1u);
  EXPECT_EQ(chain->exceptions[0].workload, "admin-export");
  EXPECT_FALSE(chain->exceptions[0].reason.empty());
}

}  // namespace
}  // namespace sluice::detect
