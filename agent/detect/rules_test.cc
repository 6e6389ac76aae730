#include "agent/detect/rules.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
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

TEST(ParseRulesTest, SixtyFourWorkloadsFit) {
  std::string text = "version: 1\nworkloads:\n";
  for (int i = 0; i < 64; ++i)
    absl::StrAppend(&text, "  - {name: w", i, ", selector: {cgroup: /w}}\n");
  const LoadResult r = Parse(text);
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  ASSERT_EQ(r.rules.workloads.size(), 64u);
  EXPECT_EQ(r.rules.workloads[63].id, 63u);
  EXPECT_EQ(r.rules.workloads[63].name, "w63");
}

// ---- error paths, each with its exact location ----

TEST(RuleErrorTest, Format) {
  EXPECT_EQ((RuleError{{"a.yaml", 3, 7}, "bad"}).ToString(), "a.yaml:3:7: bad");
  EXPECT_EQ((RuleError{{"rules.d", 0, 0}, "bad"}).ToString(), "rules.d: bad");
}

TEST(ParseErrorsTest, EmptyFile) {
  const std::string msg = "rule file is empty: expected a map with \"version: 1\"";
  EXPECT_THAT(ParseErrors(""), ElementsAre("t.yaml:1:1: " + msg));
  EXPECT_THAT(ParseErrors("# only a comment\n"), ElementsAre("t.yaml:1:1: " + msg));
  EXPECT_THAT(ParseErrors("~\n"), ElementsAre("t.yaml:1:1: " + msg));
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
                          "version, workloads, files"));
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
                          "t.yaml:3:11: invalid mode \"x\": expected monitor or enforce"));
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
      unit: a.service
    egress:
      deny: []
      allow:
        - cidr: 192.0.2.0/24
          fqdn: example.com
)")),
      ElementsAre("t.yaml:4:5: unknown key \"labels\" in workload; allowed keys: name, role, "
                  "mode, selector, egress",
                  "t.yaml:7:7: unknown key \"unit\" in selector; allowed keys: cgroup, exe",
                  "t.yaml:9:7: unknown key \"deny\" in egress; allowed keys: allow",
                  "t.yaml:12:11: unknown key \"fqdn\" in allow entry; allowed keys: cidr, ports, "
                  "comment"));
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
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: learn\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid mode \"learn\": expected monitor or enforce"));
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: Enforce\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: invalid mode \"Enforce\": expected monitor or enforce"));
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: [enforce]\n    selector: {cgroup: /a}\n")),
              ElementsAre("t.yaml:4:11: mode must be a string, got a list"));
}

TEST(ParseErrorsTest, MissingSelector) {
  EXPECT_THAT(ParseErrors(OneWorkload("    mode: monitor\n")),
              ElementsAre("t.yaml:3:5: missing required key \"selector\" in workload (needs "
                          "cgroup and/or exe)"));
}

TEST(ParseErrorsTest, SelectorNotAMap) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector:\n")),
              ElementsAre("t.yaml:4:5: selector must be a map with cgroup and/or exe, got null"));
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: /system.slice\n")),
              ElementsAre("t.yaml:4:15: selector must be a map with cgroup and/or exe, got a "
                          "scalar"));
}

TEST(ParseErrorsTest, EmptySelector) {
  EXPECT_THAT(ParseErrors(OneWorkload("    selector: {}\n")),
              ElementsAre("t.yaml:4:5: selector is empty: it needs cgroup and/or exe"));
  // Only unknown keys: as empty as {} once they are reported.
  EXPECT_THAT(
      ParseErrors(OneWorkload("    selector:\n      pod: x\n")),
      ElementsAre("t.yaml:4:5: selector is empty: it needs cgroup and/or exe",
                  "t.yaml:5:7: unknown key \"pod\" in selector; allowed keys: cgroup, exe"));
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
      ElementsAre("t.yaml:7:11: missing required key \"cidr\" in allow entry"));
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
  for (int i = 0; i < 66; ++i)
    absl::StrAppend(&text, "  - {name: w", i, ", selector: {cgroup: /w}}\n");
  // Reported once, at the 65th workload (line 67), not again at the 66th.
  EXPECT_THAT(ParseErrors(text),
              ElementsAre("t.yaml:67:5: too many workloads: at most 64 are supported (ids are "
                          "bits of a 64-bit kernel mask)"));
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
          f + ":4:11: invalid mode \"enforcing\": expected monitor or enforce",
          f + ":6:15: cgroup glob \"system.slice/x.service\" must start with \"/\" (paths are "
              "relative to the cgroup v2 root)",
          f + ":9:17: host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)",
          f + ":10:19: invalid port \"0\": ports are 1..65535",
          f + ":10:22: invalid port range \"90-80\": 90 > 80",
          f + ":11:11: missing required key \"cidr\" in allow entry",
          f + ":12:5: missing required key \"name\" in workload",
          f + ":12:5: selector is empty: it needs cgroup and/or exe",
          f + ":13:5: unknown key \"colour\" in workload; allowed keys: name, role, mode, "
              "selector, egress"));
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

// ---- loading files and directories ----

TEST(LoadRulesTest, FullFile) {
  const LoadResult r = LoadRules("rules/testdata/full.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r)[0];
  EXPECT_THAT(r.rules.files, ElementsAre("rules/testdata/full.yaml"));
  ASSERT_EQ(r.rules.workloads.size(), 2u);
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
                                     "\"learn\": expected monitor or enforce"));
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
}

}  // namespace
}  // namespace sluice::detect
