#include "agent/output/incident_report.h"

#include <string>
#include <vector>

#include "agent/detect/alert.h"
#include "agent/output/ocsf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::output {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = 1795946400000;  // 2026-11-29T10:00:00Z
constexpr int64_t kMin = 60 * 1000;

// Alerts go through the real OCSF renderer: the report reads exactly the fields sinks write.
json Render(const detect::Alert& a) {
  ProductInfo product;
  product.hostname = "inference-01";
  return RenderDetectionFinding(a, product);
}

detect::Alert Base(const std::string& detector, int64_t time_ms, const std::string& workload) {
  detect::Alert a;
  a.uid = detector + std::to_string(time_ms);
  a.detector = detector;
  a.time_ms = time_ms;
  a.workload.name = workload;
  a.process.pid = 100;
  a.process.comm = "python3";
  return a;
}

std::vector<json> Sample() {
  std::vector<json> alerts;
  {  // before the window
    detect::Alert a = Base("unexpected_egress", kT0 - 10 * 1000, "crm-sync");
    a.title = "BEFORE-WINDOW";
    a.destination = {"203.0.113.9", 443, "tcp", {"upload.example.net"}};
    a.bytes_out = 999999;
    alerts.push_back(Render(a));
  }
  {
    detect::Alert a = Base("unexpected_egress", kT0 + 1 * kMin, "crm-sync");
    a.title = "crm-sync connected to upload.example.net";
    a.disposition = detect::Disposition::kWouldBlock;
    a.destination = {"203.0.113.9", 443, "tcp", {"upload.example.net"}};
    a.bytes_out = 1000;
    a.data = {{"crm_record_id", 12, {"fpA1", "fpB2"}}, {"email", 3, {"fpC3"}}};
    alerts.push_back(Render(a));
  }
  {
    detect::Alert a = Base("pii_egress", kT0 + 2 * kMin, "crm-sync");
    a.title = "CRM records sent to upload.example.net";
    a.description = "Records left. The flow was severed: nothing more of it leaves the host.";
    a.disposition = detect::Disposition::kBlocked;
    a.destination = {"203.0.113.9", 443, "tcp", {"upload.example.net", "cdn.example.net"}};
    a.bytes_out = 500;
    a.count = 3;
    a.first_seen_ms = kT0 + 90 * 1000;
    a.last_seen_ms = kT0 + 2 * kMin;
    a.data = {{"crm_record_id", 8, {"fpB2", "fpD4"}}};
    alerts.push_back(Render(a));
  }
  {
    detect::Alert a = Base("cache_dump", kT0 + 30 * 1000, "inference");
    a.title = "inference cache sent to 198.51.100.7";
    a.destination = {"198.51.100.7", 9000, "tcp", {}};
    a.sni = "bucket.example.org";
    a.bytes_out = 2048;
    alerts.push_back(Render(a));
  }
  {
    detect::Alert a = Base("enforcement", kT0 + 3 * kMin, "crm-sync");
    a.title = "Workload crm-sync quarantined";
    a.disposition = detect::Disposition::kBlocked;
    alerts.push_back(Render(a));
  }
  {  // after the window
    detect::Alert a = Base("dns_tunnel", kT0 + 61 * kMin, "inference");
    a.title = "AFTER-WINDOW";
    alerts.push_back(Render(a));
  }
  return alerts;
}

IncidentReport SampleReport() {
  IncidentReport r = BuildReport(Sample(), kT0, kT0 + 60 * kMin);
  r.generated_ms = kT0 + 2 * 60 * kMin;
  r.source.evidence_file = "/var/lib/sluice/evidence.jsonl";
  r.source.verified = true;
  r.source.records = 6;
  return r;
}

TEST(IncidentReportTest, AggregatesTheWindowExactly) {
  const IncidentReport r = SampleReport();
  EXPECT_EQ(r.alerts, 4u);
  EXPECT_EQ(r.occurrences, 6u);  // 1 + 3 + 1 + 1
  EXPECT_EQ(r.bytes_out, 3548u);
  EXPECT_EQ(r.undated, 0u);
  EXPECT_EQ(r.detectors, (std::map<std::string, uint64_t>{
                             {"cache_dump", 1}, {"enforcement", 1}, {"pii_egress", 1},
                             {"unexpected_egress", 1}}));

  ASSERT_EQ(r.timeline.size(), 4u);
  EXPECT_EQ(r.timeline[0].detector, "cache_dump");
  EXPECT_EQ(r.timeline[0].time_ms, kT0 + 30 * 1000);
  EXPECT_EQ(r.timeline[0].destination.names, (std::vector<std::string>{"bucket.example.org"}));
  EXPECT_EQ(r.timeline[1].detector, "unexpected_egress");
  EXPECT_EQ(r.timeline[1].disposition, "Would block");
  EXPECT_EQ(r.timeline[2].detector, "pii_egress");
  EXPECT_EQ(r.timeline[2].count, 3u);
  EXPECT_TRUE(r.timeline[2].severed);
  EXPECT_EQ(r.timeline[3].detector, "enforcement");

  ASSERT_EQ(r.workloads.size(), 2u);
  EXPECT_EQ(r.workloads[0].name, "crm-sync");
  EXPECT_EQ(r.workloads[0].alerts, 3u);
  EXPECT_EQ(r.workloads[0].occurrences, 5u);
  EXPECT_EQ(r.workloads[0].bytes_out, 1500u);
  EXPECT_EQ(r.workloads[0].detectors,
            (std::vector<std::string>{"enforcement", "pii_egress", "unexpected_egress"}));
  EXPECT_EQ(r.workloads[0].destinations, (std::vector<std::string>{"203.0.113.9:443"}));
  EXPECT_EQ(r.workloads[1].name, "inference");
  EXPECT_EQ(r.workloads[1].bytes_out, 2048u);

  ASSERT_EQ(r.destinations.size(), 2u);
  EXPECT_EQ(r.destinations[0].destination.ip, "198.51.100.7");
  EXPECT_EQ(r.destinations[0].destination.port, 9000u);
  EXPECT_EQ(r.destinations[0].destination.names,
            (std::vector<std::string>{"bucket.example.org"}));
  EXPECT_EQ(r.destinations[0].workloads, (std::vector<std::string>{"inference"}));
  EXPECT_EQ(r.destinations[1].destination.ip, "203.0.113.9");
  EXPECT_EQ(r.destinations[1].destination.names,
            (std::vector<std::string>{"cdn.example.net", "upload.example.net"}));
  EXPECT_EQ(r.destinations[1].alerts, 2u);
  EXPECT_EQ(r.destinations[1].bytes_out, 1500u);

  ASSERT_EQ(r.data.size(), 2u);
  EXPECT_EQ(r.data.at("crm_record_id").matches, 20u);
  EXPECT_EQ(r.data.at("crm_record_id").alerts, 2u);
  EXPECT_EQ(r.data.at("crm_record_id").distinct_fingerprints, 3u);  // fpA1 fpB2 fpD4
  EXPECT_EQ(r.data.at("email").matches, 3u);
  EXPECT_EQ(r.data.at("email").alerts, 1u);
  EXPECT_EQ(r.data.at("email").distinct_fingerprints, 1u);

  EXPECT_EQ(r.actions.blocked, 1u);
  EXPECT_EQ(r.actions.would_block, 1u);
  EXPECT_EQ(r.actions.allowed, 1u);
  EXPECT_EQ(r.actions.severed_flows, 1u);
  EXPECT_EQ(r.actions.quarantines, 1u);
  EXPECT_EQ(r.actions.would_quarantine, 0u);
  ASSERT_EQ(r.actions.enforcement.size(), 1u);
  EXPECT_EQ(r.actions.enforcement[0].title, "Workload crm-sync quarantined");
}

TEST(IncidentReportTest, DeadlinesRunFromTheFirstDetection) {
  const IncidentReport r = SampleReport();
  ASSERT_TRUE(r.detection_ms.has_value());
  EXPECT_EQ(*r.detection_ms, kT0 + 30 * 1000);
  EXPECT_EQ(r.gdpr_art33_due_ms, kT0 + 30 * 1000 + 72 * 60 * kMin);
  EXPECT_EQ(r.nis2_early_warning_due_ms, kT0 + 30 * 1000 + 24 * 60 * kMin);
  EXPECT_EQ(FormatReportTime(r.gdpr_art33_due_ms), "2026-12-02T10:00:30.000Z");
  EXPECT_EQ(FormatReportTime(r.nis2_early_warning_due_ms), "2026-11-30T10:00:30.000Z");
}

TEST(IncidentReportTest, EnforcementChangesAreNotDetections) {
  std::vector<json> alerts = {Sample()[4]};  // the quarantine alone
  const IncidentReport r = BuildReport(alerts, kT0, kT0 + 60 * kMin);
  EXPECT_EQ(r.alerts, 1u);
  EXPECT_FALSE(r.detection_ms.has_value());
  EXPECT_THAT(RenderMarkdown(r), HasSubstr("No detection in this window"));
  EXPECT_TRUE(RenderJson(r)["deadlines"].is_null());
}

TEST(IncidentReportTest, UndatedAlertsAreCountedNotGuessed) {
  std::vector<json> alerts = Sample();
  alerts.push_back(json{{"finding_info", {{"title", "no time"}}}});
  const IncidentReport r = BuildReport(alerts, kT0, kT0 + 60 * kMin);
  EXPECT_EQ(r.alerts, 4u);
  EXPECT_EQ(r.undated, 1u);
}

TEST(IncidentReportTest, MarkdownHasTheSections) {
  const std::string md = RenderMarkdown(SampleReport());
  EXPECT_THAT(md, ::testing::StartsWith("# sluice incident report\n\n- Window: "
                                        "2026-11-29T10:00:00.000Z to 2026-11-29T11:00:00.000Z "
                                        "(UTC)\n"));
  EXPECT_THAT(md, HasSubstr("- Evidence log: /var/lib/sluice/evidence.jsonl\n"));
  EXPECT_THAT(md, HasSubstr("- Hash chain: verified intact (6 records)\n"));
  EXPECT_THAT(md, Not(HasSubstr("WARNING")));
  for (const char* section :
       {"\n## Summary\n", "\n## Notification deadlines\n", "\n## Timeline\n", "\n## Workloads\n",
        "\n## Destinations\n", "\n## Data involved\n", "\n## Actions taken\n",
        "\n### Enforcement changes\n"}) {
    EXPECT_THAT(md, HasSubstr(section));
  }
  EXPECT_THAT(md, HasSubstr("- Alerts: 4 (6 occurrences)\n"));
  EXPECT_THAT(md, HasSubstr("- Bytes sent out: 3548 "));
  EXPECT_THAT(md, HasSubstr("- Detection time: 2026-11-29T10:00:30.000Z (the first finding in "
                            "the window)\n"));
  EXPECT_THAT(md, HasSubstr("taken as the time of awareness"));
  EXPECT_THAT(md, HasSubstr("| GDPR Art. 33 notification to the supervisory authority (detection "
                            "+ 72 h) | 2026-12-02T10:00:30.000Z |\n"));
  EXPECT_THAT(md, HasSubstr("| NIS2 Art. 23 early warning to the CSIRT or competent authority "
                            "(detection + 24 h) | 2026-11-30T10:00:30.000Z |\n"));
  EXPECT_THAT(md, HasSubstr("| 2026-11-29T10:02:00.000Z | pii\\_egress | crm-sync | "
                            "203.0.113.9:443 (cdn.example.net, upload.example.net) | "
                            "Blocked (flow severed) | CRM records sent to upload.example.net "
                            "(x3) |\n"));
  EXPECT_THAT(md, HasSubstr("| crm-sync | 3 | 5 | 1500 | enforcement, pii\\_egress, "
                            "unexpected\\_egress | 203.0.113.9:443 |\n"));
  EXPECT_THAT(md, HasSubstr("| 198.51.100.7 | 9000 | bucket.example.org | 1 | 2048 | inference "
                            "|\n"));
  EXPECT_THAT(md, HasSubstr("| crm\\_record\\_id | 20 | 2 | 3 |\n"));
  EXPECT_THAT(md, HasSubstr("| email | 3 | 1 | 1 |\n"));
  EXPECT_THAT(md, HasSubstr("- Blocked: 1\n"));
  EXPECT_THAT(md, HasSubstr("- Flows severed: 1\n"));
  EXPECT_THAT(md, HasSubstr("- Workloads quarantined: 1\n"));
  EXPECT_THAT(md, HasSubstr("| 2026-11-29T10:03:00.000Z | crm-sync | Blocked | Workload crm-sync "
                            "quarantined |\n"));
  // Counts only: no fingerprint reaches the report.
  EXPECT_THAT(md, Not(HasSubstr("fp")));
  EXPECT_THAT(md, Not(HasSubstr("BEFORE-WINDOW")));
  EXPECT_THAT(md, Not(HasSubstr("AFTER-WINDOW")));
}

TEST(IncidentReportTest, BrokenLogIsSaidFirst) {
  IncidentReport r = SampleReport();
  r.source.verified = false;
  r.source.bad_record = 17;
  r.source.problem = "edited (its hash does not match the next record's prev)";
  const std::string md = RenderMarkdown(r);
  EXPECT_THAT(md, ::testing::StartsWith(
                      "# sluice incident report\n\n> **WARNING: THE EVIDENCE LOG DID NOT VERIFY.** "
                      "The hash chain of /var/lib/sluice/evidence.jsonl is broken at record 17: "
                      "edited (its hash does not match the next record's prev)."));
  EXPECT_THAT(md, HasSubstr("- Hash chain: BROKEN at record 17 (6 records read)\n"));
  const json j = RenderJson(r);
  EXPECT_EQ(j["evidence"]["verified"], false);
  EXPECT_EQ(j["evidence"]["bad_record"], 17);
}

TEST(IncidentReportTest, AlertTextCannotShapeTheMarkdown) {
  detect::Alert a = Base("tool_egress", kT0 + kMin, "x|y");
  a.title = "curl | [click](http://evil.example) <b>\nnew line";
  const IncidentReport r = BuildReport({Render(a)}, kT0, kT0 + 60 * kMin);
  const std::string md = RenderMarkdown(r);
  EXPECT_THAT(md, HasSubstr("curl \\| \\[click\\](http://evil.example) \\<b\\> new line"));
  EXPECT_THAT(md, HasSubstr("| x\\|y |"));
}

TEST(IncidentReportTest, EmptyWindowSaysSo) {
  IncidentReport r = BuildReport(Sample(), kT0 + 600 * kMin, kT0 + 700 * kMin);
  r.source.verified = true;
  EXPECT_EQ(r.alerts, 0u);
  const std::string md = RenderMarkdown(r);
  EXPECT_THAT(md, HasSubstr("No alerts in this window: sluice reported nothing between "
                            "2026-11-29T20:00:00.000Z and 2026-11-29T21:40:00.000Z.\n"));
  EXPECT_THAT(md, HasSubstr("No detection in this window: no deadline runs from it.\n"));
  EXPECT_THAT(md, Not(HasSubstr("## Timeline")));
  const json j = RenderJson(r);
  EXPECT_EQ(j["summary"]["alerts"], 0);
  EXPECT_TRUE(j["detection"].is_null());
  EXPECT_EQ(j["timeline"], json::array());
}

TEST(IncidentReportTest, JsonCarriesTheSameNumbers) {
  const json j = RenderJson(SampleReport());
  EXPECT_EQ(j["window"]["since"], "2026-11-29T10:00:00.000Z");
  EXPECT_EQ(j["window"]["until_ms"], kT0 + 60 * kMin);
  EXPECT_EQ(j["evidence"]["file"], "/var/lib/sluice/evidence.jsonl");
  EXPECT_EQ(j["evidence"]["verified"], true);
  EXPECT_FALSE(j["evidence"].contains("problem"));
  EXPECT_EQ(j["summary"]["alerts"], 4);
  EXPECT_EQ(j["summary"]["occurrences"], 6);
  EXPECT_EQ(j["summary"]["bytes_out"], 3548);
  EXPECT_EQ(j["summary"]["detectors"]["pii_egress"], 1);
  EXPECT_EQ(j["detection"]["time"], "2026-11-29T10:00:30.000Z");
  EXPECT_EQ(j["deadlines"]["gdpr_art33"]["due"], "2026-12-02T10:00:30.000Z");
  EXPECT_EQ(j["deadlines"]["gdpr_art33"]["hours"], 72);
  EXPECT_EQ(j["deadlines"]["nis2_early_warning"]["due"], "2026-11-30T10:00:30.000Z");
  EXPECT_EQ(j["deadlines"]["nis2_early_warning"]["hours"], 24);
  EXPECT_THAT(j["deadlines"]["basis"].get<std::string>(), HasSubstr("awareness"));
  ASSERT_EQ(j["timeline"].size(), 4u);
  EXPECT_EQ(j["timeline"][2]["destination"]["port"], 443);
  EXPECT_EQ(j["timeline"][3]["destination"], nullptr);
  EXPECT_EQ(j["data"], json::parse(R"({
      "crm_record_id": {"matches": 20, "alerts": 2, "distinct_fingerprints": 3},
      "email": {"matches": 3, "alerts": 1, "distinct_fingerprints": 1}})"));
  EXPECT_EQ(j["actions"]["quarantines"], 1);
  EXPECT_EQ(j["actions"]["severed_flows"], 1);
  EXPECT_EQ(j["actions"]["enforcement"][0]["workload"], "crm-sync");
  EXPECT_EQ(j["workloads"][0]["name"], "crm-sync");
  EXPECT_EQ(j["destinations"][1]["names"],
            json::array({"cdn.example.net", "upload.example.net"}));
}

}  // namespace
}  // namespace sluice::output
