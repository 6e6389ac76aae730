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

// The rendering of SampleAlert before aggregation and evidence fields existed, with the product
// version pinned. An alert that leaves the new fields at their defaults must render exactly so.
constexpr char kSampleAlertFinding[] = R"json({
  "action": "Denied",
  "action_id": 2,
  "activity_id": 1,
  "activity_name": "Create",
  "actor": {
    "app_name": "sync",
    "process": {
      "cmd_line": "python3 sync.py --batch 500",
      "file": {
        "name": "python3.11",
        "path": "/usr/bin/python3.11",
        "type": "Regular File",
        "type_id": 1
      },
      "name": "python3",
      "parent_process": {"pid": 1},
      "pid": 4242,
      "user": {"uid": "1000"}
    }
  },
  "attacks": [
    {
      "tactic": {"name": "Exfiltration", "uid": "TA0010"},
      "technique": {"name": "Exfiltration Over C2 Channel", "uid": "T1041"}
    },
    {
      "tactic": {"name": "Exfiltration", "uid": "TA0010"},
      "technique": {"name": "Exfiltration Over Alternative Protocol", "uid": "T1048"}
    }
  ],
  "category_name": "Findings",
  "category_uid": 2,
  "class_name": "Detection Finding",
  "class_uid": 2004,
  "connection_info": {
    "direction": "Outbound",
    "direction_id": 2,
    "protocol_name": "tcp",
    "protocol_num": 6
  },
  "device": {"hostname": "inference-01", "type": "Server", "type_id": 1},
  "disposition": "Blocked",
  "disposition_id": 2,
  "dst_endpoint": {"hostname": "upload.example.net", "ip": "203.0.113.9", "port": 443},
  "finding_info": {
    "analytic": {
      "name": "unexpected_egress",
      "type": "Rule",
      "type_id": 1,
      "uid": "unexpected_egress"
    },
    "attacks": [
      {
        "tactic": {"name": "Exfiltration", "uid": "TA0010"},
        "technique": {"name": "Exfiltration Over C2 Channel", "uid": "T1041"}
      },
      {
        "tactic": {"name": "Exfiltration", "uid": "TA0010"},
        "technique": {"name": "Exfiltration Over Alternative Protocol", "uid": "T1048"}
      }
    ],
    "desc": "Process python3 (pid 4242) of workload sync connected to 203.0.113.9:443.",
    "title": "crm-sync connected to a destination outside its allowlist",
    "types": ["unexpected_egress"],
    "uid": "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01"
  },
  "message": "crm-sync connected to a destination outside its allowlist",
  "metadata": {
    "product": {"name": "sluice", "vendor_name": "sluice", "version": "VERSION"},
    "profiles": ["host", "security_control"],
    "uid": "6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01",
    "version": "1.1.0"
  },
  "severity": "High",
  "severity_id": 4,
  "status": "New",
  "status_id": 1,
  "time": 1717171717123,
  "type_name": "Detection Finding: Create",
  "type_uid": 200401,
  "unmapped": {
    "sluice": {
      "connect_result": -1,
      "destination_names": ["upload.example.net", "cdn.example.net"],
      "rule_mode": "enforce",
      "workload": {
        "cgroup_id": 7788,
        "cgroup_path": "/system.slice/crm-sync.service",
        "name": "sync",
        "role": "crm-sync"
      }
    }
  }
})json";

TEST(OcsfTest, AlertWithoutNewFieldsRendersAsBefore) {
  ProductInfo p = Product();
  p.version = "VERSION";
  EXPECT_EQ(RenderDetectionFinding(SampleAlert(), p), json::parse(kSampleAlertFinding));
}

TEST(OcsfTest, AggregateCountAndSeenTimes) {
  auto a = SampleAlert();
  a.count = 37;
  a.first_seen_ms = 1717171700000;
  a.last_seen_ms = 1717171759000;
  const json f = RenderDetectionFinding(a, Product());
  ASSERT_TRUE(f["count"].is_number_integer());
  EXPECT_EQ(f["count"], 37);
  EXPECT_EQ(f["start_time"], 1717171700000);
  EXPECT_EQ(f["end_time"], 1717171759000);
  EXPECT_EQ(f["finding_info"]["first_seen_time"], 1717171700000);
  EXPECT_EQ(f["finding_info"]["last_seen_time"], 1717171759000);
  EXPECT_EQ(f["time"], 1717171717123);  // the event time stays what the alert says
}

TEST(OcsfTest, FirstOccurrenceHasCountOne) {
  auto a = SampleAlert();
  a.first_seen_ms = a.time_ms;
  a.last_seen_ms = a.time_ms;
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["count"], 1);
  EXPECT_EQ(f["start_time"], a.time_ms);
  EXPECT_EQ(f["end_time"], a.time_ms);
  EXPECT_EQ(f["finding_info"]["first_seen_time"], a.time_ms);
  EXPECT_EQ(f["finding_info"]["last_seen_time"], a.time_ms);
}

TEST(OcsfTest, FilesAreEvidencesWithByteCountsUnmapped) {
  auto a = SampleAlert();
  a.files = {{"/var/cache/kv/shard-0.bin", "inference-cache", 1048576, 4096},
             {"", "vector-index", 512, 0}};  // inode only
  const json f = RenderDetectionFinding(a, Product());
  ASSERT_TRUE(f["evidences"].is_array());
  ASSERT_EQ(f["evidences"].size(), 1u);
  EXPECT_EQ(f["evidences"][0], (json{{"file",
                                      {{"path", "/var/cache/kv/shard-0.bin"},
                                       {"name", "shard-0.bin"},
                                       {"type_id", 1},
                                       {"type", "Regular File"}}}}));
  const json& files = f["unmapped"]["sluice"]["files"];
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], (json{{"path", "/var/cache/kv/shard-0.bin"},
                            {"file_class", "inference-cache"},
                            {"bytes_read", 1048576},
                            {"bytes_mapped", 4096}}));
  EXPECT_EQ(files[1]["path"], "");
  EXPECT_EQ(files[1]["file_class"], "vector-index");
  EXPECT_EQ(files[1]["bytes_read"], 512);
}

TEST(OcsfTest, DirectoryLikePathNamesItself) {
  auto a = SampleAlert();
  a.files = {{"/var/cache/", "inference-cache", 1, 0}};
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["evidences"][0]["file"]["name"], "/var/cache/");
}

TEST(OcsfTest, TrafficBytes) {
  auto a = SampleAlert();
  a.bytes_out = 12582912;
  const json f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["unmapped"]["sluice"]["traffic"], (json{{"bytes_out", 12582912}, {"bytes_in", 0}}));
  EXPECT_FALSE(f.contains("traffic"));  // not a Detection Finding attribute in OCSF 1.1
  EXPECT_FALSE(f.contains("evidences"));
}

TEST(OcsfTest, AppProtocolSniAndEncryption) {
  auto a = SampleAlert();
  a.app_protocol = "http";
  a.sni = "upload.example.net";
  a.encrypted = true;
  json f = RenderDetectionFinding(a, Product());
  const json& s = f["unmapped"]["sluice"];
  EXPECT_EQ(s["app_protocol"], "http");
  EXPECT_EQ(s["tls"], (json{{"sni", "upload.example.net"}}));
  EXPECT_EQ(s["encrypted"], true);
  EXPECT_EQ(f["connection_info"]["protocol_name"], "tcp");  // IANA transport, not the app

  // With no DNS name for the address, the TLS server name is the endpoint's hostname.
  a.destination.names.clear();
  a.sni = "paste.evil.test";
  f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["dst_endpoint"]["hostname"], "paste.evil.test");
  // A DNS name, when there is one, stays the hostname.
  a.destination.names = {"upload.example.net"};
  f = RenderDetectionFinding(a, Product());
  EXPECT_EQ(f["dst_endpoint"]["hostname"], "upload.example.net");
  EXPECT_EQ(f["unmapped"]["sluice"]["tls"]["sni"], "paste.evil.test");
}

TEST(OcsfTest, UnencryptedIsNotStated) {
  auto a = SampleAlert();
  a.app_protocol = "kafka";
  const json s = RenderDetectionFinding(a, Product())["unmapped"]["sluice"];
  EXPECT_EQ(s["app_protocol"], "kafka");
  EXPECT_FALSE(s.contains("encrypted"));
  EXPECT_FALSE(s.contains("tls"));
}

TEST(OcsfTest, DataMatchesAreCountsAndFingerprintsOnly) {
  auto a = SampleAlert();
  a.data = {{"email", 12, {"3f9a01c2d4e5f607", "0b1c2d3e4f506172"}}, {"crm_record_id", 400, {}}};
  const json f = RenderDetectionFinding(a, Product());
  const json& data = f["unmapped"]["sluice"]["data"];
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0], (json{{"kind", "email"},
                           {"count", 12},
                           {"fingerprints", {"3f9a01c2d4e5f607", "0b1c2d3e4f506172"}}}));
  EXPECT_EQ(data[1], (json{{"kind", "crm_record_id"}, {"count", 400}}));
  EXPECT_FALSE(f.contains("evidences"));
}

TEST(OcsfTest, DnsDomainIsAQueryEvidence) {
  auto a = SampleAlert();
  a.detector = "dns_tunnel";
  a.destination = {};
  a.destination.names = {"evil-tunnel.example"};
  a.destination.port = 53;
  a.destination.protocol = "udp";
  a.dns_domain = "evil-tunnel.example";
  a.files = {{"/srv/logs/audit.log", "inference-log", 10, 0}};
  const json f = RenderDetectionFinding(a, Product());
  ASSERT_EQ(f["evidences"].size(), 2u);
  EXPECT_EQ(f["evidences"][0]["file"]["path"], "/srv/logs/audit.log");
  EXPECT_EQ(f["evidences"][1], (json{{"query", {{"hostname", "evil-tunnel.example"}}}}));
  EXPECT_EQ(f["dst_endpoint"], (json{{"hostname", "evil-tunnel.example"}, {"port", 53}}));
}

TEST(OcsfTest, NewStringsWithInvalidUtf8AreReplacedNotThrown) {
  auto a = SampleAlert();
  a.files = {{std::string("/var/cache/\xff\xfe.bin"), std::string("cls\xc3"), 1, 0}};
  a.sni = std::string("sni\xe2\x28\xa1.example");
  a.app_protocol = std::string("\x80");
  a.dns_domain = std::string("tun\xff.example");
  a.data = {{std::string("kind\xc0"), 1, {std::string("fp\xfe")}}};
  std::string line;
  ASSERT_NO_THROW(line = RenderLine(a, Product()));
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  json back;
  ASSERT_NO_THROW(back = json::parse(line));
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_THAT(back["evidences"][0]["file"]["path"].get<std::string>(), HasSubstr(fffd));
  EXPECT_THAT(back["evidences"][1]["query"]["hostname"].get<std::string>(), HasSubstr(fffd));
  const json& s = back["unmapped"]["sluice"];
  EXPECT_THAT(s["files"][0]["file_class"].get<std::string>(), HasSubstr(fffd));
  EXPECT_THAT(s["tls"]["sni"].get<std::string>(), HasSubstr(fffd));
  EXPECT_THAT(s["app_protocol"].get<std::string>(), HasSubstr(fffd));
  EXPECT_THAT(s["data"][0]["kind"].get<std::string>(), HasSubstr(fffd));
  EXPECT_THAT(s["data"][0]["fingerprints"][0].get<std::string>(), HasSubstr(fffd));
}

TEST(OcsfTest, RenderLineRoundTripsEveryField) {
  auto a = SampleAlert();
  a.count = 5;
  a.first_seen_ms = 1717171700000;
  a.last_seen_ms = 1717171717123;
  a.files = {{"/var/cache/kv/0.bin", "inference-cache", 9, 1}};
  a.bytes_out = 1;
  a.bytes_in = 2;
  a.app_protocol = "tls";
  a.sni = "x.example";
  a.encrypted = true;
  a.data = {{"api_key", 1, {"aa"}}};
  a.dns_domain = "x.example";
  EXPECT_EQ(json::parse(RenderLine(a, Product())), RenderDetectionFinding(a, Product()));
}

}  // namespace
}  // namespace sluice::output
