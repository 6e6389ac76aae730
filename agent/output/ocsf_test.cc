#include "agent/output/ocsf.h"

#include <unistd.h>

#include <climits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

detect::Alert SampleAlert() {
  detect::Alert a;
  a.uid = "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01";
  a.detector = "unexpected_egress";
  a.title = "crm-sync connected to a destination outside its allowlist";
  a.description = "Process python3 (pid 4242) of workload sync connected to 203.0.113.9:443.";
  a.severity = detect::Severity::kHigh;
  a.disposition = detect::Disposition::kBlocked;
  a.rule_mode = "enforce";
  a.time_ms = 1717171717123;
  a.workload = {"sync", "crm-sync", "/system.slice/crm-sync.service", 7788};
  a.process.pid = 4242;
  a.process.ppid = 1;
  a.process.uid = 1000;
  a.process.exe = "/usr/bin/python3.11";
  a.process.comm = "python3";
  a.process.cmdline = "python3 sync.py --batch 500";
  a.destination.ip = "203.0.113.9";
  a.destination.port = 443;
  a.destination.protocol = "tcp";
  a.destination.names = {"upload.example.net", "cdn.example.net"};
  a.attack_techniques = {"T1041", "T1048"};
  a.connect_result = -1;
  return a;
}

ProductInfo Product() {
  ProductInfo p;
  p.hostname = "inference-01";
  return p;
}

TEST(OcsfTest, RequiredFieldsArePresentAndTyped) {
  const json f = RenderDetectionFinding(SampleAlert(), Product());
  ASSERT_TRUE(f["class_uid"].is_number_integer());
  EXPECT_EQ(f["class_uid"], 2004);
  EXPECT_EQ(f["class_name"], "Detection Finding");
  EXPECT_EQ(f["category_uid"], 2);
  EXPECT_EQ(f["category_name"], "Findings");
  EXPECT_EQ(f["activity_id"], 1);
  EXPECT_EQ(f["type_uid"].get<int>(),
            f["class_uid"].get<int>() * 100 + f["activity_id"].get<int>());
  ASSERT_TRUE(f["time"].is_number_integer());
  EXPECT_EQ(f["time"].get<int64_t>(), 1717171717123);
  ASSERT_TRUE(f["severity_id"].is_number_integer());
  EXPECT_GE(f["severity_id"].get<int>(), 1);
  EXPECT_LE(f["severity_id"].get<int>(), 6);
  EXPECT_EQ(f["severity_id"], 4);
  EXPECT_EQ(f["severity"], "High");
  EXPECT_EQ(f["status_id"], 1);
  EXPECT_EQ(f["status"], "New");
  EXPECT_EQ(f["message"], SampleAlert().title);

  EXPECT_EQ(f["metadata"]["version"], "1.1.0");
  EXPECT_EQ(f["metadata"]["product"]["name"], "sluice");
  EXPECT_EQ(f["metadata"]["product"]["vendor_name"], "sluice");
  ASSERT_TRUE(f["metadata"]["product"]["version"].is_string());
  EXPECT_EQ(f["metadata"]["product"]["version"], std::string(kSluiceVersion));
  EXPECT_EQ(f["metadata"]["uid"], SampleAlert().uid);
  EXPECT_EQ(f["metadata"]["profiles"], json::array({"host", "security_control"}));

  const json& fi = f["finding_info"];
  EXPECT_EQ(fi["uid"], SampleAlert().uid);
  EXPECT_EQ(fi["title"], SampleAlert().title);
  EXPECT_EQ(fi["desc"], SampleAlert().description);
  EXPECT_EQ(fi["types"], json::array({"unexpected_egress"}));
  EXPECT_EQ(fi["analytic"]["name"], "unexpected_egress");
  EXPECT_EQ(fi["analytic"]["uid"], "unexpected_egress");
  EXPECT_EQ(fi["analytic"]["type_id"], 1);
  EXPECT_EQ(fi["analytic"]["type"], "Rule");

  EXPECT_EQ(f["device"]["hostname"], "inference-01");
  EXPECT_EQ(f["device"]["type_id"], 1);
}

TEST(OcsfTest, DefaultProductIsSluice) {
  ProductInfo p;
  EXPECT_EQ(p.name, "sluice");
  EXPECT_EQ(p.vendor_name, "sluice");
  EXPECT_FALSE(p.version.empty());
#ifdef SLUICE_VERSION
  EXPECT_EQ(p.version, SLUICE_VERSION);
#endif
}

TEST(OcsfTest, HostnameDefaultsToTheLocalHost) {
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const json f = RenderDetectionFinding(SampleAlert(), ProductInfo{});
  EXPECT_EQ(f["device"]["hostname"], std::string(host));
}

TEST(OcsfTest, SeverityNames) {
  const char* names[] = {"Informational", "Low", "Medium", "High", "Critical", "Fatal"};
  for (int id = 1; id <= 6; ++id) {
    auto a = SampleAlert();
    a.severity = static_cast<detect::Severity>(id);
    const json f = RenderDetectionFinding(a, Product());
    EXPECT_EQ(f["severity_id"], id);
    EXPECT_EQ(f["severity"], names[id - 1]);
  }
}

TEST(OcsfTest, MissingTimeBecomesNow) {
  auto a = SampleAlert();
  a.time_ms = 0;
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_GT(f["time"].get<int64_t>(), 1600000000000LL);
}

struct DispositionCase {
  detect::Disposition disposition;
  int disposition_id;
  const char* disposition_name;
  int action_id;
  const char* action;
};

TEST(OcsfTest, EachDisposition) {
  const DispositionCase cases[] = {
      {detect::Disposition::kAllowed, 1, "Allowed", 1, "Allowed"},
      {detect::Disposition::kBlocked, 2, "Blocked", 2, "Denied"},
      {detect::Disposition::kWouldBlock, 99, "Would block", 99, "Would block"},
  };
  for (const auto& c : cases) {
    auto a = SampleAlert();
    a.disposition = c.disposition;
    const json f = RenderDetectionFinding(a, Product());
    EXPECT_EQ(f["disposition_id"], c.disposition_id) << c.disposition_name;
    EXPECT_EQ(f["disposition"], c.disposition_name);
    EXPECT_EQ(f["action_id"], c.action_id) << c.disposition_name;
    EXPECT_EQ(f["action"], c.action);
  }
}

TEST(OcsfTest, AttacksCarryTechniqueAndTactic) {
  auto a = SampleAlert();
  a.attack_techniques = {"T1041", "T1005", "T1552", "T1071.004", "T9999", "T1048.002"};
  const json f = RenderDetectionFinding(a, Product());
  const json& attacks = f["finding_info"]["attacks"];
  ASSERT_EQ(attacks.size(), 6u);
  EXPECT_EQ(f["attacks"], attacks);  // security_control profile copy

  EXPECT_EQ(attacks[0]["technique"]["uid"], "T1041");
  EXPECT_EQ(attacks[0]["technique"]["name"], "Exfiltration Over C2 Channel");
  EXPECT_EQ(attacks[0]["tactic"], (json{{"uid", "TA0010"}, {"name", "Exfiltration"}}));
  EXPECT_FALSE(attacks[0].contains("sub_technique"));

  EXPECT_EQ(attacks[1]["tactic"]["uid"], "TA0009");
  EXPECT_EQ(attacks[1]["tactic"]["name"], "Collection");
  EXPECT_EQ(attacks[2]["tactic"]["uid"], "TA0006");
  EXPECT_EQ(attacks[2]["tactic"]["name"], "Credential Access");

  EXPECT_EQ(attacks[3]["technique"]["uid"], "T1071");
  EXPECT_EQ(attacks[3]["sub_technique"], (json{{"uid", "T1071.004"}, {"name", "DNS"}}));
  EXPECT_EQ(attacks[3]["tactic"]["uid"], "TA0011");
  EXPECT_EQ(attacks[3]["tactic"]["name"], "Command and Control");

  // Unknown ids are kept, without an invented name or tactic.
  EXPECT_EQ(attacks[4]["technique"], (json{{"uid", "T9999"}}));
  EXPECT_FALSE(attacks[4].contains("tactic"));
  EXPECT_EQ(attacks[5]["technique"]["name"], "Exfiltration Over Alternative Protocol");
  EXPECT_EQ(attacks[5]["sub_technique"], (json{{"uid", "T1048.002"}}));
  EXPECT_EQ(attacks[5]["tactic"]["uid"], "TA0010");
}

TEST(OcsfTest, NoTechniquesNoAttacks) {
  auto a = SampleAlert();
  a.attack_techniques.clear();
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_FALSE(f.contains("attacks"));
  EXPECT_FALSE(f["finding_info"].contains("attacks"));
}

TEST(OcsfTest, ActorProcess) {
  const json f = RenderDetectionFinding(SampleAlert(), Product());
  const json& p = f["actor"]["process"];
  EXPECT_EQ(p["pid"], 4242);
  EXPECT_EQ(p["name"], "python3");
  EXPECT_EQ(p["cmd_line"], "python3 sync.py --batch 500");
  EXPECT_EQ(p["file"]["path"], "/usr/bin/python3.11");
  EXPECT_EQ(p["file"]["name"], "python3.11");
  EXPECT_EQ(p["user"]["uid"], "1000");
  EXPECT_EQ(p["parent_process"]["pid"], 1);
  EXPECT_EQ(f["actor"]["app_name"], "sync");
}

TEST(OcsfTest, UnknownProcessDetailsAreOmitted) {
  auto a = SampleAlert();
  a.process = {};
  a.process.pid = 99;
  const json p = RenderDetectionFinding(a, Product())["actor"]["process"];
  EXPECT_EQ(p["pid"], 99);
  EXPECT_FALSE(p.contains("name"));
  EXPECT_FALSE(p.contains("cmd_line"));
  EXPECT_FALSE(p.contains("file"));
  EXPECT_FALSE(p.contains("parent_process"));
}

TEST(OcsfTest, DestinationV4WithNames) {
  const json f = RenderDetectionFinding(SampleAlert(), Product());
  EXPECT_EQ(f["dst_endpoint"]["ip"], "203.0.113.9");
  EXPECT_EQ(f["dst_endpoint"]["port"], 443);
  EXPECT_EQ(f["dst_endpoint"]["hostname"], "upload.example.net");
  EXPECT_EQ(f["connection_info"]["protocol_name"], "tcp");
  EXPECT_EQ(f["connection_info"]["protocol_num"], 6);
  EXPECT_EQ(f["connection_info"]["direction_id"], 2);
}

TEST(OcsfTest, DestinationV6WithoutNamesOrProtocol) {
  auto a = SampleAlert();
  a.destination.ip = "2001:db8::1";
  a.destination.port = 8443;
  a.destination.names.clear();
  a.destination.protocol.clear();
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["dst_endpoint"], (json{{"ip", "2001:db8::1"}, {"port", 8443}}));
  EXPECT_FALSE(f.contains("connection_info"));
  EXPECT_EQ(f["unmapped"]["sluice"]["destination_names"], json::array());

  a.destination.protocol = "udp";
  EXPECT_EQ(RenderDetectionFinding(a, Product())["connection_info"]["protocol_num"], 17);
}

TEST(OcsfTest, UnmappedCarriesWhatOcsfHasNoFieldFor) {
  const json s = RenderDetectionFinding(SampleAlert(), Product())["unmapped"]["sluice"];
  EXPECT_EQ(s["workload"]["name"], "sync");
  EXPECT_EQ(s["workload"]["role"], "crm-sync");
  EXPECT_EQ(s["workload"]["cgroup_path"], "/system.slice/crm-sync.service");
  EXPECT_EQ(s["workload"]["cgroup_id"], 7788);
  EXPECT_EQ(s["rule_mode"], "enforce");
  EXPECT_EQ(s["connect_result"], -1);
  EXPECT_EQ(s["destination_names"], json::array({"upload.example.net", "cdn.example.net"}));
}

TEST(OcsfTest, RenderLineIsOneCompactLine) {
  const std::string line = RenderLine(SampleAlert(), Product());
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_THAT(line, HasSubstr("\"class_uid\":2004"));
  EXPECT_EQ(json::parse(line), RenderDetectionFinding(SampleAlert(), Product()));
}

TEST(OcsfTest, OddExeNamesAreEscapedNotFatal) {
  auto a = SampleAlert();
  a.process.exe = "/tmp/\"evil\"\n\\name\t\x01";
  a.process.cmdline = "sh -c 'echo \"hi\"'\r\n";
  a.title = "quote \" and newline \n";
  std::string line;
  ASSERT_NO_THROW(line = RenderLine(a, Product()));
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  const json back = json::parse(line);
  EXPECT_EQ(back["actor"]["process"]["file"]["path"], a.process.exe);
  EXPECT_EQ(back["actor"]["process"]["file"]["name"], "\"evil\"\n\\name\t\x01");
  EXPECT_EQ(back["actor"]["process"]["cmd_line"], a.process.cmdline);
  EXPECT_EQ(back["message"], a.title);
}

TEST(OcsfTest, InvalidUtf8IsReplacedNotThrown) {
  auto a = SampleAlert();
  a.process.exe = std::string("/opt/\xff\xfe/bin\xc3");  // invalid bytes, truncated sequence
  a.process.comm = std::string("\x80\x80", 2);
  a.destination.names = {std::string("bad\xe2\x28\xa1.example")};
  std::string line;
  ASSERT_NO_THROW(line = RenderLine(a, Product()));
  json back;
  ASSERT_NO_THROW(back = json::parse(line));
  const std::string path = back["actor"]["process"]["file"]["path"];
  EXPECT_THAT(path, HasSubstr("\xef\xbf\xbd"));  // U+FFFD
  EXPECT_THAT(path, HasSubstr("/opt/"));
  EXPECT_EQ(back["class_uid"], 2004);
}

}  // namespace
}  // namespace sluice::output
