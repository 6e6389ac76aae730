#include "agent/replay/event_codec.h"

#include <functional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "agent/replay/record_file.h"
#include "agent/replay/test_inputs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::replay {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(EventCodecTest, EverySampleRoundTrips) {
  const std::vector<engine::Input> inputs = testing::AllKinds();
  std::set<size_t> kinds;
  for (const engine::Input& in : inputs) {
    kinds.insert(in.index());
    SCOPED_TRACE(in.index());
    // In memory and through the wire form.
    absl::StatusOr<engine::Input> back = FromProto(ToProto(in));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == in);
    v1::Event parsed;
    ASSERT_TRUE(parsed.ParseFromString(ToProto(in).SerializeAsString()));
    back = FromProto(parsed);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == in);
  }
  // A new alternative in engine::Input needs a sample here (and a message in event.proto).
  EXPECT_EQ(kinds.size(), std::variant_size_v<engine::Input>);
}

TEST(EventCodecTest, DefaultValuesRoundTrip) {
  // All-zero numbers are absent on the wire; they must come back as zero, not as the C++
  // defaults (workload_id = SLUICE_NO_WORKLOAD, fd = -1).
  events::ExecEvent exec;
  exec.hdr.type = SLUICE_EV_EXEC;
  exec.workload_id = 0;
  auto back = FromProto(ToProto(exec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == engine::Input(exec));

  engine::TlsObservation tls;
  tls.hdr.type = SLUICE_EV_TLS;
  tls.fd = 0;
  tls.direction = SLUICE_TLS_DIR_READ;
  tls.lib = SLUICE_TLS_LIB_OPENSSL;
  back = FromProto(ToProto(tls));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == engine::Input(tls));
}

TEST(EventCodecTest, EventTypeComesFromTheKind) {
  events::ForkEvent fork;
  fork.hdr.type = 0;  // inconsistent: the kind decides
  auto back = FromProto(ToProto(fork));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(std::get<events::ForkEvent>(*back).hdr.type, uint32_t{SLUICE_EV_FORK});
}

TEST(EventCodecTest, EmptyEventIsAnError) {
  auto back = FromProto(v1::Event());
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(back.status().message(), HasSubstr("no kind"));
}

TEST(EventCodecTest, UnknownFieldsAreIgnoredAndUnknownKindsRejected) {
  // A newer writer's extra field inside a known message: skipped.
  const engine::Input exec = testing::AllKinds()[0];
  std::string inner = ToProto(exec).exec().SerializeAsString();
  inner += std::string("\xa0\x06\x01", 3);  // field 100, varint 1
  std::string wire = "\x0a";                  // Event.exec, length-delimited
  wire += static_cast<char>(inner.size());
  wire += inner;
  v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  auto back = FromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == exec);

  // A kind this sluice does not know (Event field 99).
  ASSERT_TRUE(parsed.ParseFromString(std::string("\x9a\x06\x00", 3)));
  back = FromProto(parsed);
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(back.status().message(), HasSubstr("newer sluice"));
}

// The largest input of each kind FromProto accepts still fits in a record.
TEST(EventCodecTest, LargestValidInputsFitInARecord) {
  const std::string path(kMaxPathBytes, 'p');
  const std::string name(kMaxNameBytes, 'n');

  events::ExecEvent exec;
  exec.workload_id = 1;
  exec.comm = std::string(kMaxCommBytes, 'c');
  exec.filename = path;
  exec.argv.assign(kMaxArgs, std::string(kMaxArgBytes, 'a'));

  engine::DnsObservation dns;
  dns.message.questions.assign(kMaxDnsQuestions, name);
  dns.message.answers.assign(kMaxDnsAnswers,
                             events::DnsAnswer{name, events::kDnsTypeCname, 1, {}, name});

  engine::TlsObservation tls;
  tls.direction = SLUICE_TLS_DIR_WRITE;
  tls.lib = SLUICE_TLS_LIB_OPENSSL;
  tls.protocol = tls.http_method = tls.operation = std::string(kMaxLabelBytes, 'l');
  tls.http_path = path;
  tls.http_host = tls.sni = name;
  tls.data.assign(kMaxDataKinds,
                  detect::DataMatch{std::string(kMaxLabelBytes, 'k'), ~uint64_t{0},
                                    std::vector<std::string>(kMaxFingerprints,
                                                             std::string(kMaxFingerprintBytes,
                                                                         'f'))});

  engine::ProcessSnapshot proc{1, 1, 1, path, exec.comm, std::string(kMaxCmdlineBytes, 'x'),
                               1, 1, 1};

  for (const engine::Input& in : std::vector<engine::Input>{exec, dns, tls, proc}) {
    SCOPED_TRACE(in.index());
    const v1::Event e = ToProto(in);
    EXPECT_LE(e.ByteSizeLong(), kMaxRecordBytes);
    auto back = FromProto(e);
    ASSERT_TRUE(back.ok()) << back.status();
  }
}

struct InvalidCase {
  std::string name;
  size_t sample;  // index into AllKinds()
  std::function<void(v1::Event&)> mutate;
  std::string error;  // the message starts with this
};

std::vector<InvalidCase> InvalidCases() {
  const std::string long_path(kMaxPathBytes + 1, 'p');
  const std::string long_name(kMaxNameBytes + 1, 'n');
  const std::string long_label(kMaxLabelBytes + 1, 'l');
  return {
      // exec
      {"exec_workload", 0, [](v1::Event& e) { e.mutable_exec()->set_workload_id(64); },
       "exec.workload_id: 64 is not a workload id"},
      {"exec_comm_long", 0, [](v1::Event& e) { e.mutable_exec()->set_comm("12345678901234567"); },
       "exec.comm: 17 bytes, at most 16"},
      {"exec_comm_nul", 0,
       [](v1::Event& e) { e.mutable_exec()->set_comm(std::string("a\0b", 3)); },
       "exec.comm: contains a NUL byte"},
      {"exec_filename", 0, [=](v1::Event& e) { e.mutable_exec()->set_filename(long_path); },
       "exec.filename: 4097 bytes, at most 4096"},
      {"exec_argc", 0,
       [](v1::Event& e) {
         for (size_t i = 0; i < kMaxArgs; ++i) e.mutable_exec()->add_argv("x");
       },
       "exec.argv: 133 entries, at most 128"},
      {"exec_arg_long", 0,
       [](v1::Event& e) { e.mutable_exec()->set_argv(2, std::string(kMaxArgBytes + 1, 'a')); },
       "exec.argv[2]: 4097 bytes, at most 4096"},
      // cgroup_mkdir
      {"mkdir_path", 3, [=](v1::Event& e) { e.mutable_cgroup_mkdir()->set_path(long_path); },
       "cgroup_mkdir.path: 4097 bytes"},
      // connect
      {"connect_daddr", 4,
       [](v1::Event& e) { e.mutable_connect()->set_daddr(std::string(4, '\x7f')); },
       "connect.daddr: 4 bytes, expected 16"},
      {"connect_daddr_long", 4,
       [](v1::Event& e) { e.mutable_connect()->set_daddr(std::string(17, '\0')); },
       "connect.daddr: 17 bytes, expected 16"},
      {"connect_daddr_missing", 4, [](v1::Event& e) { e.mutable_connect()->clear_daddr(); },
       "connect.daddr: 0 bytes, expected 16"},
      {"connect_dport", 4, [](v1::Event& e) { e.mutable_connect()->set_dport(70000); },
       "connect.dport: 70000 does not fit in 16 bits"},
      {"connect_family", 4, [](v1::Event& e) { e.mutable_connect()->set_family(65536); },
       "connect.family: 65536 does not fit in 16 bits"},
      {"connect_verdict", 4,
       [](v1::Event& e) { e.mutable_connect()->set_verdict(static_cast<v1::Verdict>(5)); },
       "connect.verdict: 5 is not a verdict (0..4)"},
      {"connect_verdict_negative", 4,
       [](v1::Event& e) { e.mutable_connect()->set_verdict(static_cast<v1::Verdict>(-1)); },
       "connect.verdict: -1 is not a verdict"},
      {"connect_protocol", 4, [](v1::Event& e) { e.mutable_connect()->set_protocol(256); },
       "connect.protocol: 256 does not fit in 8 bits"},
      {"connect_flags", 4, [](v1::Event& e) { e.mutable_connect()->set_flags(0x10000); },
       "connect.flags: 65536 does not fit in 16 bits"},
      {"connect_workload", 4, [](v1::Event& e) { e.mutable_connect()->set_workload_id(100); },
       "connect.workload_id: 100 is not a workload id"},
      // flow
      {"flow_kind_zero", 5,
       [](v1::Event& e) { e.mutable_flow()->set_kind(v1::FLOW_KIND_UNSPECIFIED); },
       "flow.kind: 0 is not a flow kind (1..4)"},
      {"flow_kind_high", 5,
       [](v1::Event& e) { e.mutable_flow()->set_kind(static_cast<v1::FlowKind>(5)); },
       "flow.kind: 5 is not a flow kind"},
      {"flow_saddr", 5,
       [](v1::Event& e) { e.mutable_flow()->mutable_flow()->set_saddr(std::string(4, '\1')); },
       "flow.flow.saddr: 4 bytes, expected 16"},
      {"flow_sport", 5, [](v1::Event& e) { e.mutable_flow()->mutable_flow()->set_sport(65536); },
       "flow.flow.sport: 65536 does not fit in 16 bits"},
      {"flow_flags", 5, [](v1::Event& e) { e.mutable_flow()->mutable_flow()->set_flags(256); },
       "flow.flow.flags: 256 does not fit in 8 bits"},
      {"flow_workload", 5,
       [](v1::Event& e) { e.mutable_flow()->mutable_flow()->set_workload_id(64); },
       "flow.flow.workload_id: 64 is not a workload id"},
      // file_open
      {"open_class", 6, [](v1::Event& e) { e.mutable_file_open()->set_class_id(32); },
       "file_open.class_id: 32 is not a file class id (0..31)"},
      {"open_matched_by", 6,
       [](v1::Event& e) { e.mutable_file_open()->set_matched_by(static_cast<v1::FileMatch>(4)); },
       "file_open.matched_by: 4 is not a file match (1..3)"},
      {"open_path", 6, [=](v1::Event& e) { e.mutable_file_open()->set_path(long_path); },
       "file_open.path: 4097 bytes, at most 4096"},
      // dns
      {"dns_server", 7, [](v1::Event& e) { e.mutable_dns()->clear_server(); },
       "dns.server: 0 bytes, expected 16"},
      {"dns_id", 7, [](v1::Event& e) { e.mutable_dns()->mutable_message()->set_id(65536); },
       "dns.message.id: 65536 does not fit in 16 bits"},
      {"dns_opcode", 7, [](v1::Event& e) { e.mutable_dns()->mutable_message()->set_opcode(16); },
       "dns.message.opcode: 16 does not fit in 4 bits"},
      {"dns_rcode", 7, [](v1::Event& e) { e.mutable_dns()->mutable_message()->set_rcode(16); },
       "dns.message.rcode: 16 does not fit in 4 bits"},
      {"dns_questions", 7,
       [](v1::Event& e) {
         for (size_t i = 0; i < kMaxDnsQuestions; ++i) {
           e.mutable_dns()->mutable_message()->add_questions("q");
         }
       },
       "dns.message.questions: 18 entries, at most 16"},
      {"dns_question_long", 7,
       [=](v1::Event& e) { e.mutable_dns()->mutable_message()->set_questions(1, long_name); },
       "dns.message.questions[1]: 1025 bytes, at most 1024"},
      {"dns_answers", 7,
       [](v1::Event& e) {
         auto* m = e.mutable_dns()->mutable_message();
         while (static_cast<size_t>(m->answers_size()) <= kMaxDnsAnswers) {
           *m->add_answers() = m->answers(0);
         }
       },
       "dns.message.answers: 65 entries, at most 64"},
      {"dns_answer_type", 7,
       [](v1::Event& e) {
         e.mutable_dns()->mutable_message()->mutable_answers(2)->set_type(
             static_cast<v1::DnsType>(16));
       },
       "dns.message.answers[2].type: 16 is not A (1), CNAME (5) or AAAA (28)"},
      {"dns_answer_addr", 7,
       [](v1::Event& e) {
         e.mutable_dns()->mutable_message()->mutable_answers(1)->set_addr(std::string(15, '\0'));
       },
       "dns.message.answers[1].addr: 15 bytes, expected 16"},
      {"dns_a_not_mapped", 7,
       [](v1::Event& e) {
         e.mutable_dns()->mutable_message()->mutable_answers(1)->set_addr(std::string(16, '\1'));
       },
       "dns.message.answers[1].addr: an A record's address is not v4-mapped"},
      {"dns_answer_name", 7,
       [=](v1::Event& e) {
         e.mutable_dns()->mutable_message()->mutable_answers(0)->set_name(long_name);
       },
       "dns.message.answers[0].name: 1025 bytes"},
      {"dns_answer_cname", 7,
       [=](v1::Event& e) {
         e.mutable_dns()->mutable_message()->mutable_answers(0)->set_cname(long_name);
       },
       "dns.message.answers[0].cname: 1025 bytes"},
      // tls
      {"tls_direction", 8,
       [](v1::Event& e) { e.mutable_tls()->set_direction(static_cast<v1::TlsDirection>(3)); },
       "tls.direction: 3 is not a TLS direction (1..2)"},
      {"tls_lib", 8, [](v1::Event& e) { e.mutable_tls()->set_lib(v1::TLS_LIBRARY_UNSPECIFIED); },
       "tls.lib: 0 is not a TLS library (1..2)"},
      {"tls_workload", 8, [](v1::Event& e) { e.mutable_tls()->set_workload_id(1u << 31); },
       "tls.workload_id: 2147483648 is not a workload id"},
      {"tls_protocol", 8, [=](v1::Event& e) { e.mutable_tls()->set_protocol(long_label); },
       "tls.protocol: 65 bytes, at most 64"},
      {"tls_method", 8, [=](v1::Event& e) { e.mutable_tls()->set_http_method(long_label); },
       "tls.http_method: 65 bytes"},
      {"tls_path", 8, [=](v1::Event& e) { e.mutable_tls()->set_http_path(long_path); },
       "tls.http_path: 4097 bytes"},
      {"tls_host", 8, [=](v1::Event& e) { e.mutable_tls()->set_http_host(long_name); },
       "tls.http_host: 1025 bytes"},
      {"tls_operation", 8, [=](v1::Event& e) { e.mutable_tls()->set_operation(long_label); },
       "tls.operation: 65 bytes"},
      {"tls_sni", 8, [=](v1::Event& e) { e.mutable_tls()->set_sni(long_name); },
       "tls.sni: 1025 bytes"},
      {"tls_data_count", 8,
       [](v1::Event& e) {
         while (static_cast<size_t>(e.tls().data_size()) <= kMaxDataKinds) {
           e.mutable_tls()->add_data()->set_kind("x");
         }
       },
       "tls.data: 65 entries, at most 64"},
      {"tls_data_kind", 8,
       [=](v1::Event& e) { e.mutable_tls()->mutable_data(1)->set_kind(long_label); },
       "tls.data[1].kind: 65 bytes, at most 64"},
      {"tls_fingerprints", 8,
       [](v1::Event& e) {
         for (size_t i = 0; i < kMaxFingerprints; ++i) {
           e.mutable_tls()->mutable_data(0)->add_fingerprints("ff");
         }
       },
       "tls.data[0].fingerprints: 18 entries, at most 16"},
      {"tls_fingerprint_long", 8,
       [](v1::Event& e) {
         e.mutable_tls()->mutable_data(0)->set_fingerprints(
             1, std::string(kMaxFingerprintBytes + 1, 'f'));
       },
       "tls.data[0].fingerprints[1]: 129 bytes, at most 128"},
      // flow_totals, file_totals
      {"flow_totals_daddr", 9,
       [](v1::Event& e) { e.mutable_flow_totals()->mutable_flow()->clear_daddr(); },
       "flow_totals.flow.daddr: 0 bytes, expected 16"},
      {"flow_totals_no_flow", 9, [](v1::Event& e) { e.mutable_flow_totals()->clear_flow(); },
       "flow_totals.flow.saddr: 0 bytes, expected 16"},
      {"file_totals_class", 10, [](v1::Event& e) { e.mutable_file_totals()->set_class_id(99); },
       "file_totals.class_id: 99 is not a file class id"},
      {"file_totals_workload", 10,
       [](v1::Event& e) { e.mutable_file_totals()->set_workload_id(64); },
       "file_totals.workload_id: 64 is not a workload id"},
      // snapshots
      {"proc_exe", 11, [=](v1::Event& e) { e.mutable_process_snapshot()->set_exe(long_path); },
       "process_snapshot.exe: 4097 bytes"},
      {"proc_comm", 11,
       [](v1::Event& e) { e.mutable_process_snapshot()->set_comm(std::string(65, 'c')); },
       "process_snapshot.comm: 65 bytes, at most 64"},
      {"proc_cmdline", 11,
       [](v1::Event& e) {
         e.mutable_process_snapshot()->set_cmdline(std::string(kMaxCmdlineBytes + 1, 'x'));
       },
       "process_snapshot.cmdline: 4097 bytes, at most 4096"},
      {"cgroup_snapshot_nul", 12,
       [](v1::Event& e) { e.mutable_cgroup_snapshot()->set_path(std::string("/a\0", 3)); },
       "cgroup_snapshot.path: contains a NUL byte"},
  };
}

TEST(EventCodecTest, InvalidFieldsAreRejectedByName) {
  const std::vector<engine::Input> samples = testing::AllKinds();
  for (const InvalidCase& c : InvalidCases()) {
    SCOPED_TRACE(c.name);
    v1::Event e = ToProto(samples.at(c.sample));
    ASSERT_TRUE(FromProto(e).ok());
    c.mutate(e);
    // Also through the wire: the checks must not depend on in-memory state.
    v1::Event parsed;
    ASSERT_TRUE(parsed.ParseFromString(e.SerializeAsString()));
    for (const v1::Event* ev : {&e, &parsed}) {
      absl::StatusOr<engine::Input> back = FromProto(*ev);
      ASSERT_FALSE(back.ok());
      EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(back.status().message()), StartsWith(c.error));
    }
  }
}

}  // namespace
}  // namespace sluice::replay
