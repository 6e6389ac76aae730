#include "agent/replay/event_codec.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice::replay {
namespace {

namespace v1 = ::sluice::v1;

// ---- ToProto ----

void SetAddr(const std::array<uint8_t, 16>& addr, std::string* out) {
  out->assign(reinterpret_cast<const char*>(addr.data()), addr.size());
}

void EncodeHeader(const events::EventHeader& h, v1::EventHeader* out) {
  out->set_ts_ns(h.ts_ns);
  out->set_pid(h.pid);
  out->set_tid(h.tid);
  out->set_cgroup_id(h.cgroup_id);
}

void EncodeFlow(const events::Flow& f, v1::Flow* out) {
  out->set_cgroup_id(f.cgroup_id);
  out->set_start_ns(f.start_ns);
  out->set_end_ns(f.end_ns);
  out->set_bytes_out(f.bytes_out);
  out->set_bytes_in(f.bytes_in);
  out->set_pid(f.pid);
  out->set_workload_id(f.workload_id);
  out->set_family(f.family);
  out->set_sport(f.sport);
  out->set_dport(f.dport);
  out->set_protocol(f.protocol);
  out->set_flags(f.flags);
  SetAddr(f.saddr, out->mutable_saddr());
  SetAddr(f.daddr, out->mutable_daddr());
}

void Encode(const events::ExecEvent& e, v1::Event* out) {
  v1::Exec* p = out->mutable_exec();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_ppid(e.ppid);
  p->set_uid(e.uid);
  p->set_exe_ino(e.exe_ino);
  p->set_exe_dev(e.exe_dev);
  p->set_workload_id(e.workload_id);
  p->set_comm(e.comm);
  p->set_filename(e.filename);
  for (const std::string& a : e.argv) p->add_argv(a);
  p->set_argv_truncated(e.argv_truncated);
}

void Encode(const events::ExitEvent& e, v1::Event* out) {
  v1::Exit* p = out->mutable_exit();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_exit_code(e.exit_code);
}

void Encode(const events::ForkEvent& e, v1::Event* out) {
  v1::Fork* p = out->mutable_fork();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_child_pid(e.child_pid);
  p->set_flags(e.flags);
}

void Encode(const events::CgroupMkdirEvent& e, v1::Event* out) {
  v1::CgroupMkdir* p = out->mutable_cgroup_mkdir();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_path(e.path);
}

void Encode(const events::ConnectEvent& e, v1::Event* out) {
  v1::Connect* p = out->mutable_connect();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_workload_id(e.workload_id);
  p->set_ret(e.ret);
  p->set_family(e.family);
  p->set_dport(e.dport);
  // Proto3 enums are open: a value outside the ABI's is stored as is (and rejected by FromProto).
  p->set_verdict(static_cast<v1::Verdict>(e.verdict));
  p->set_protocol(e.protocol);
  p->set_flags(e.flags);
  SetAddr(e.daddr, p->mutable_daddr());
}

void Encode(const events::FlowEvent& e, v1::Event* out) {
  v1::FlowEvent* p = out->mutable_flow();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_cookie(e.cookie);
  p->set_kind(static_cast<v1::FlowKind>(e.kind));
  EncodeFlow(e.flow, p->mutable_flow());
}

void Encode(const events::FileOpenEvent& e, v1::Event* out) {
  v1::FileOpen* p = out->mutable_file_open();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_ino(e.ino);
  p->set_dev(e.dev);
  p->set_fd(e.fd);
  p->set_open_flags(e.open_flags);
  p->set_class_id(e.class_id);
  p->set_workload_id(e.workload_id);
  p->set_matched_by(static_cast<v1::FileMatch>(e.matched_by));
  p->set_path(e.path);
}

void Encode(const engine::DnsObservation& e, v1::Event* out) {
  v1::DnsObservation* p = out->mutable_dns();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_cookie(e.cookie);
  SetAddr(e.server, p->mutable_server());
  p->set_cut(e.cut);
  v1::DnsMessage* m = p->mutable_message();
  m->set_id(e.message.id);
  m->set_response(e.message.response);
  m->set_opcode(e.message.opcode);
  m->set_truncated(e.message.truncated);
  m->set_rcode(e.message.rcode);
  for (const std::string& q : e.message.questions) m->add_questions(q);
  for (const events::DnsAnswer& a : e.message.answers) {
    v1::DnsAnswer* pa = m->add_answers();
    pa->set_name(a.name);
    pa->set_type(static_cast<v1::DnsType>(a.type));
    pa->set_ttl(a.ttl);
    SetAddr(a.addr, pa->mutable_addr());
    pa->set_cname(a.cname);
  }
}

void Encode(const engine::TlsObservation& e, v1::Event* out) {
  v1::TlsObservation* p = out->mutable_tls();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_cookie(e.cookie);
  p->set_fd(e.fd);
  p->set_len(e.len);
  p->set_captured(e.captured);
  p->set_direction(static_cast<v1::TlsDirection>(e.direction));
  p->set_lib(static_cast<v1::TlsLibrary>(e.lib));
  p->set_workload_id(e.workload_id);
  p->set_protocol(e.protocol);
  p->set_http_method(e.http_method);
  p->set_http_path(e.http_path);
  p->set_http_host(e.http_host);
  p->set_http_has_query(e.http_has_query);
  p->set_operation(e.operation);
  p->set_sni(e.sni);
  for (const detect::DataMatch& d : e.data) {
    v1::DataMatch* pd = p->add_data();
    pd->set_kind(d.kind);
    pd->set_count(d.count);
    for (const std::string& fp : d.fingerprints) pd->add_fingerprints(fp);
  }
}

void Encode(const engine::PayloadObservation& e, v1::Event* out) {
  v1::PayloadObservation* p = out->mutable_payload();
  EncodeHeader(e.hdr, p->mutable_header());
  p->set_cookie(e.cookie);
  p->set_len(e.len);
  p->set_protocol(e.protocol);
  p->set_operation(e.operation);
  p->set_sni(e.sni);
}

void Encode(const engine::FlowTotals& e, v1::Event* out) {
  v1::FlowTotals* p = out->mutable_flow_totals();
  p->set_ts_ns(e.ts_ns);
  p->set_cookie(e.cookie);
  EncodeFlow(e.flow, p->mutable_flow());
  p->set_final(e.final);
}

void Encode(const engine::FileTotals& e, v1::Event* out) {
  v1::FileTotals* p = out->mutable_file_totals();
  p->set_ts_ns(e.ts_ns);
  p->set_pid(e.pid);
  p->set_dev(e.dev);
  p->set_ino(e.ino);
  p->set_bytes_read(e.bytes_read);
  p->set_bytes_mapped(e.bytes_mapped);
  p->set_calls(e.calls);
  p->set_class_id(e.class_id);
  p->set_workload_id(e.workload_id);
  p->set_final(e.final);
}

void Encode(const engine::ProcessSnapshot& e, v1::Event* out) {
  v1::ProcessSnapshot* p = out->mutable_process_snapshot();
  p->set_pid(e.pid);
  p->set_ppid(e.ppid);
  p->set_uid(e.uid);
  p->set_exe(e.exe);
  p->set_comm(e.comm);
  p->set_cmdline(e.cmdline);
  p->set_cgroup_id(e.cgroup_id);
  p->set_exe_ino(e.exe_ino);
  p->set_exe_dev(e.exe_dev);
}

void Encode(const engine::ContainerInfo& e, v1::Event* out) {
  v1::ContainerInfo* p = out->mutable_container();
  p->set_id(e.id);
  p->set_found(e.found);
  for (const auto& [key, value] : e.labels) {
    v1::ContainerLabel* l = p->add_labels();
    l->set_key(key);
    l->set_value(value);
  }
}

void Encode(const engine::CgroupSnapshot& e, v1::Event* out) {
  v1::CgroupSnapshot* p = out->mutable_cgroup_snapshot();
  p->set_id(e.id);
  p->set_path(e.path);
}

void Encode(const engine::ClockSync& e, v1::Event* out) {
  out->mutable_clock_sync()->set_boot_to_epoch_ns(e.boot_to_epoch_ns);
}

// ---- FromProto ----

// The name of a field for error messages ("tls.data[2].fingerprints[0]"). Built only when a
// check fails: replay decodes millions of events a second and must not format names it will not
// print.
class Field {
 public:
  explicit Field(absl::string_view name) : name_(name) {}
  Field(const Field& parent, absl::string_view member) : parent_(&parent), name_(member) {}
  Field At(size_t index) const { return Field(*this, index); }

  std::string Name() const {
    std::string out = parent_ != nullptr ? parent_->Name() : std::string();
    if (index_ >= 0) {
      absl::StrAppend(&out, "[", index_, "]");
    } else {
      absl::StrAppend(&out, parent_ != nullptr ? "." : "", name_);
    }
    return out;
  }

 private:
  Field(const Field& parent, size_t index)
      : parent_(&parent), index_(static_cast<int64_t>(index)) {}

  const Field* parent_ = nullptr;
  absl::string_view name_;
  int64_t index_ = -1;
};

absl::Status Invalid(const Field& field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field.Name(), ": ", what));
}

absl::Status CheckLen(const Field& field, const std::string& value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return Invalid(field, absl::StrCat(value.size(), " bytes, at most ", max));
}

// Text the kernel copies as a C string (or the agent reads from /proc) never holds a NUL.
absl::Status CheckCString(const Field& field, const std::string& value, size_t max) {
  if (absl::Status s = CheckLen(field, value, max); !s.ok()) return s;
  if (value.find('\0') != std::string::npos) return Invalid(field, "contains a NUL byte");
  return absl::OkStatus();
}

absl::Status CheckCount(const Field& field, int count, size_t max) {
  if (static_cast<size_t>(count) <= max) return absl::OkStatus();
  return Invalid(field, absl::StrCat(count, " entries, at most ", max));
}

absl::Status DecodeAddr(const Field& field, const std::string& value,
                        std::array<uint8_t, 16>* out) {
  if (value.size() != out->size()) {
    return Invalid(field, absl::StrCat(value.size(), " bytes, expected ", out->size()));
  }
  std::memcpy(out->data(), value.data(), out->size());
  return absl::OkStatus();
}

// The proto carries 8- and 16-bit ABI fields in 32-bit varints.
template <typename T>
absl::Status Narrow(const Field& field, uint32_t value, T* out) {
  static_assert(std::is_unsigned_v<T> && sizeof(T) < sizeof(uint32_t));
  if (value > std::numeric_limits<T>::max()) {
    return Invalid(field, absl::StrCat(value, " does not fit in ", sizeof(T) * 8, " bits"));
  }
  *out = static_cast<T>(value);
  return absl::OkStatus();
}

// An enum field's value, which must lie in [lo, hi] (proto3 enums hold any int32).
template <typename T>
absl::Status EnumIn(const Field& field, int value, int lo, int hi, absl::string_view what, T* out) {
  if (value < lo || value > hi) {
    return Invalid(field, absl::StrCat(value, " is not a ", what, " (", lo, "..", hi, ")"));
  }
  *out = static_cast<T>(value);
  return absl::OkStatus();
}

// Workload ids are bit positions in the kernel's 64-bit masks; the engine indexes rules by them.
absl::Status CheckWorkload(const Field& field, uint32_t id) {
  if (id < SLUICE_MAX_WORKLOADS || id == SLUICE_NO_WORKLOAD) return absl::OkStatus();
  return Invalid(field, absl::StrCat(id, " is not a workload id (0..", SLUICE_MAX_WORKLOADS - 1,
                                     " or ", SLUICE_NO_WORKLOAD, ")"));
}

absl::Status CheckFileClass(const Field& field, uint32_t id) {
  if (id < SLUICE_MAX_FILE_CLASSES) return absl::OkStatus();
  return Invalid(field, absl::StrCat(id, " is not a file class id (0..",
                                     SLUICE_MAX_FILE_CLASSES - 1, ")"));
}

events::EventHeader DecodeHeader(const v1::EventHeader& h, uint32_t type) {
  events::EventHeader out;
  out.type = type;
  out.ts_ns = h.ts_ns();
  out.pid = h.pid();
  out.tid = h.tid();
  out.cgroup_id = h.cgroup_id();
  return out;
}

absl::Status DecodeFlow(const Field& f, const v1::Flow& p, events::Flow* out) {
  out->cgroup_id = p.cgroup_id();
  out->start_ns = p.start_ns();
  out->end_ns = p.end_ns();
  out->bytes_out = p.bytes_out();
  out->bytes_in = p.bytes_in();
  out->pid = p.pid();
  out->workload_id = p.workload_id();
  absl::Status s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (s.ok()) s = Narrow(Field(f, "family"), p.family(), &out->family);
  if (s.ok()) s = Narrow(Field(f, "sport"), p.sport(), &out->sport);
  if (s.ok()) s = Narrow(Field(f, "dport"), p.dport(), &out->dport);
  if (s.ok()) s = Narrow(Field(f, "protocol"), p.protocol(), &out->protocol);
  if (s.ok()) s = Narrow(Field(f, "flags"), p.flags(), &out->flags);
  if (s.ok()) s = DecodeAddr(Field(f, "saddr"), p.saddr(), &out->saddr);
  if (s.ok()) s = DecodeAddr(Field(f, "daddr"), p.daddr(), &out->daddr);
  return s;
}

absl::StatusOr<engine::Input> DecodeExec(const v1::Exec& p) {
  const Field f("exec");
  events::ExecEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_EXEC);
  e.ppid = p.ppid();
  e.uid = p.uid();
  e.exe_ino = p.exe_ino();
  e.exe_dev = p.exe_dev();
  e.workload_id = p.workload_id();
  absl::Status s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (s.ok()) s = CheckCString(Field(f, "comm"), p.comm(), kMaxCommBytes);
  if (s.ok()) s = CheckCString(Field(f, "filename"), p.filename(), kMaxPathBytes);
  const Field argv(f, "argv");
  if (s.ok()) s = CheckCount(argv, p.argv_size(), kMaxArgs);
  for (int i = 0; s.ok() && i < p.argv_size(); ++i) {
    s = CheckCString(argv.At(i), p.argv(i), kMaxArgBytes);
  }
  if (!s.ok()) return s;
  e.comm = p.comm();
  e.filename = p.filename();
  e.argv.assign(p.argv().begin(), p.argv().end());
  e.argv_truncated = p.argv_truncated();
  return e;
}

absl::StatusOr<engine::Input> DecodeExit(const v1::Exit& p) {
  events::ExitEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_EXIT);
  e.exit_code = p.exit_code();
  return e;
}

absl::StatusOr<engine::Input> DecodeFork(const v1::Fork& p) {
  events::ForkEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_FORK);
  e.child_pid = p.child_pid();
  e.flags = p.flags();
  return e;
}

absl::StatusOr<engine::Input> DecodeCgroupMkdir(const v1::CgroupMkdir& p) {
  const Field f("cgroup_mkdir");
  if (absl::Status s = CheckCString(Field(f, "path"), p.path(), kMaxPathBytes); !s.ok()) return s;
  events::CgroupMkdirEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_CGROUP_MKDIR);
  e.path = p.path();
  return e;
}

absl::StatusOr<engine::Input> DecodeConnect(const v1::Connect& p) {
  const Field f("connect");
  events::ConnectEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_CONNECT);
  e.workload_id = p.workload_id();
  e.ret = p.ret();
  absl::Status s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (s.ok()) s = Narrow(Field(f, "family"), p.family(), &e.family);
  if (s.ok()) s = Narrow(Field(f, "dport"), p.dport(), &e.dport);
  if (s.ok()) {
    s = EnumIn(Field(f, "verdict"), p.verdict(), SLUICE_VERDICT_NONE, SLUICE_VERDICT_EXEMPT,
               "verdict", &e.verdict);
  }
  if (s.ok()) s = Narrow(Field(f, "protocol"), p.protocol(), &e.protocol);
  if (s.ok()) s = Narrow(Field(f, "flags"), p.flags(), &e.flags);
  if (s.ok()) s = DecodeAddr(Field(f, "daddr"), p.daddr(), &e.daddr);
  if (!s.ok()) return s;
  return e;
}

absl::StatusOr<engine::Input> DecodeFlowEvent(const v1::FlowEvent& p) {
  const Field f("flow");
  events::FlowEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_FLOW);
  e.cookie = p.cookie();
  absl::Status s = EnumIn(Field(f, "kind"), p.kind(), SLUICE_FLOW_CONNECTED, SLUICE_FLOW_CLOSED,
                          "flow kind", &e.kind);
  if (s.ok()) s = DecodeFlow(Field(f, "flow"), p.flow(), &e.flow);
  if (!s.ok()) return s;
  return e;
}

absl::StatusOr<engine::Input> DecodeFileOpen(const v1::FileOpen& p) {
  const Field f("file_open");
  events::FileOpenEvent e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_FILE_OPEN);
  e.ino = p.ino();
  e.dev = p.dev();
  e.fd = p.fd();
  e.open_flags = p.open_flags();
  e.class_id = p.class_id();
  e.workload_id = p.workload_id();
  absl::Status s = CheckFileClass(Field(f, "class_id"), p.class_id());
  if (s.ok()) s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (s.ok()) {
    s = EnumIn(Field(f, "matched_by"), p.matched_by(), SLUICE_FILE_MATCH_PATH,
               SLUICE_FILE_MATCH_IO_URING, "file match", &e.matched_by);
  }
  if (s.ok()) s = CheckCString(Field(f, "path"), p.path(), kMaxPathBytes);
  if (!s.ok()) return s;
  e.path = p.path();
  return e;
}

absl::Status DecodeDnsAnswer(const Field& f, const v1::DnsAnswer& p, events::DnsAnswer* out) {
  const int type = p.type();
  if (type != events::kDnsTypeA && type != events::kDnsTypeAaaa &&
      type != events::kDnsTypeCname) {
    return Invalid(Field(f, "type"), absl::StrCat(type, " is not A (1), CNAME (5) or AAAA (28)"));
  }
  out->type = static_cast<uint16_t>(type);
  out->ttl = p.ttl();
  absl::Status s = CheckLen(Field(f, "name"), p.name(), kMaxNameBytes);
  if (s.ok()) s = CheckLen(Field(f, "cname"), p.cname(), kMaxNameBytes);
  if (s.ok()) s = DecodeAddr(Field(f, "addr"), p.addr(), &out->addr);
  if (!s.ok()) return s;
  // The parser stores an A record v4-mapped; anything else would be another address.
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (type == events::kDnsTypeA && std::memcmp(out->addr.data(), kV4Mapped, 12) != 0) {
    return Invalid(Field(f, "addr"), "an A record's address is not v4-mapped");
  }
  out->name = p.name();
  out->cname = p.cname();
  return absl::OkStatus();
}

absl::StatusOr<engine::Input> DecodeDns(const v1::DnsObservation& p) {
  const Field f("dns");
  engine::DnsObservation e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_DNS);
  e.cookie = p.cookie();
  e.cut = p.cut();
  absl::Status s = DecodeAddr(Field(f, "server"), p.server(), &e.server);
  if (!s.ok()) return s;

  const Field fm(f, "message");
  const v1::DnsMessage& m = p.message();
  events::DnsMessage& out = e.message;
  out.response = m.response();
  out.truncated = m.truncated();
  s = Narrow(Field(fm, "id"), m.id(), &out.id);
  // OPCODE and RCODE are 4-bit header fields.
  if (s.ok() && m.opcode() > 15) {
    s = Invalid(Field(fm, "opcode"), absl::StrCat(m.opcode(), " does not fit in 4 bits"));
  }
  if (s.ok() && m.rcode() > 15) {
    s = Invalid(Field(fm, "rcode"), absl::StrCat(m.rcode(), " does not fit in 4 bits"));
  }
  const Field questions(fm, "questions");
  if (s.ok()) s = CheckCount(questions, m.questions_size(), kMaxDnsQuestions);
  for (int i = 0; s.ok() && i < m.questions_size(); ++i) {
    s = CheckLen(questions.At(i), m.questions(i), kMaxNameBytes);
  }
  const Field answers(fm, "answers");
  if (s.ok()) s = CheckCount(answers, m.answers_size(), kMaxDnsAnswers);
  if (!s.ok()) return s;
  out.opcode = static_cast<uint8_t>(m.opcode());
  out.rcode = static_cast<uint8_t>(m.rcode());
  out.questions.assign(m.questions().begin(), m.questions().end());
  out.answers.resize(m.answers_size());
  for (int i = 0; i < m.answers_size(); ++i) {
    s = DecodeDnsAnswer(answers.At(i), m.answers(i), &out.answers[i]);
    if (!s.ok()) return s;
  }
  return e;
}

absl::Status DecodeDataMatch(const Field& f, const v1::DataMatch& p, detect::DataMatch* out) {
  const Field fps(f, "fingerprints");
  absl::Status s = CheckLen(Field(f, "kind"), p.kind(), kMaxLabelBytes);
  if (s.ok()) s = CheckCount(fps, p.fingerprints_size(), kMaxFingerprints);
  for (int i = 0; s.ok() && i < p.fingerprints_size(); ++i) {
    s = CheckLen(fps.At(i), p.fingerprints(i), kMaxFingerprintBytes);
  }
  if (!s.ok()) return s;
  out->kind = p.kind();
  out->count = p.count();
  out->fingerprints.assign(p.fingerprints().begin(), p.fingerprints().end());
  return absl::OkStatus();
}

absl::StatusOr<engine::Input> DecodeTls(const v1::TlsObservation& p) {
  const Field f("tls");
  engine::TlsObservation e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_TLS);
  e.cookie = p.cookie();
  e.fd = p.fd();
  e.len = p.len();
  e.captured = p.captured();
  e.workload_id = p.workload_id();
  e.http_has_query = p.http_has_query();
  absl::Status s = EnumIn(Field(f, "direction"), p.direction(), SLUICE_TLS_DIR_WRITE,
                          SLUICE_TLS_DIR_READ, "TLS direction", &e.direction);
  if (s.ok()) {
    s = EnumIn(Field(f, "lib"), p.lib(), SLUICE_TLS_LIB_OPENSSL, SLUICE_TLS_LIB_GNUTLS,
               "TLS library", &e.lib);
  }
  if (s.ok()) s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (s.ok()) s = CheckLen(Field(f, "protocol"), p.protocol(), kMaxLabelBytes);
  if (s.ok()) s = CheckLen(Field(f, "http_method"), p.http_method(), kMaxLabelBytes);
  if (s.ok()) s = CheckLen(Field(f, "http_path"), p.http_path(), kMaxPathBytes);
  if (s.ok()) s = CheckLen(Field(f, "http_host"), p.http_host(), kMaxNameBytes);
  if (s.ok()) s = CheckLen(Field(f, "operation"), p.operation(), kMaxLabelBytes);
  if (s.ok()) s = CheckLen(Field(f, "sni"), p.sni(), kMaxNameBytes);
  const Field data(f, "data");
  if (s.ok()) s = CheckCount(data, p.data_size(), kMaxDataKinds);
  if (!s.ok()) return s;
  e.protocol = p.protocol();
  e.http_method = p.http_method();
  e.http_path = p.http_path();
  e.http_host = p.http_host();
  e.operation = p.operation();
  e.sni = p.sni();
  e.data.resize(p.data_size());
  for (int i = 0; i < p.data_size(); ++i) {
    s = DecodeDataMatch(data.At(i), p.data(i), &e.data[i]);
    if (!s.ok()) return s;
  }
  return e;
}

absl::StatusOr<engine::Input> DecodePayload(const v1::PayloadObservation& p) {
  const Field f("payload");
  engine::PayloadObservation e;
  e.hdr = DecodeHeader(p.header(), SLUICE_EV_PAYLOAD);
  e.cookie = p.cookie();
  e.len = p.len();
  absl::Status s = CheckLen(Field(f, "protocol"), p.protocol(), kMaxLabelBytes);
  if (s.ok()) s = CheckLen(Field(f, "operation"), p.operation(), kMaxPathBytes);
  if (s.ok()) s = CheckLen(Field(f, "sni"), p.sni(), kMaxNameBytes);
  if (!s.ok()) return s;
  e.protocol = p.protocol();
  e.operation = p.operation();
  e.sni = p.sni();
  return e;
}

absl::StatusOr<engine::Input> DecodeFlowTotals(const v1::FlowTotals& p) {
  engine::FlowTotals e;
  e.ts_ns = p.ts_ns();
  e.cookie = p.cookie();
  e.final = p.final();
  const Field f("flow_totals");
  if (absl::Status s = DecodeFlow(Field(f, "flow"), p.flow(), &e.flow); !s.ok()) return s;
  return e;
}

absl::StatusOr<engine::Input> DecodeFileTotals(const v1::FileTotals& p) {
  const Field f("file_totals");
  absl::Status s = CheckFileClass(Field(f, "class_id"), p.class_id());
  if (s.ok()) s = CheckWorkload(Field(f, "workload_id"), p.workload_id());
  if (!s.ok()) return s;
  engine::FileTotals e;
  e.ts_ns = p.ts_ns();
  e.pid = p.pid();
  e.dev = p.dev();
  e.ino = p.ino();
  e.bytes_read = p.bytes_read();
  e.bytes_mapped = p.bytes_mapped();
  e.calls = p.calls();
  e.class_id = p.class_id();
  e.workload_id = p.workload_id();
  e.final = p.final();
  return e;
}

absl::StatusOr<engine::Input> DecodeProcessSnapshot(const v1::ProcessSnapshot& p) {
  const Field f("process_snapshot");
  absl::Status s = CheckCString(Field(f, "exe"), p.exe(), kMaxPathBytes);
  if (s.ok()) s = CheckCString(Field(f, "comm"), p.comm(), kMaxProcCommBytes);
  if (s.ok()) s = CheckCString(Field(f, "cmdline"), p.cmdline(), kMaxCmdlineBytes);
  if (!s.ok()) return s;
  engine::ProcessSnapshot e;
  e.pid = p.pid();
  e.ppid = p.ppid();
  e.uid = p.uid();
  e.exe = p.exe();
  e.comm = p.comm();
  e.cmdline = p.cmdline();
  e.cgroup_id = p.cgroup_id();
  e.exe_ino = p.exe_ino();
  e.exe_dev = p.exe_dev();
  return e;
}

absl::StatusOr<engine::Input> DecodeCgroupSnapshot(const v1::CgroupSnapshot& p) {
  const Field f("cgroup_snapshot");
  if (absl::Status s = CheckCString(Field(f, "path"), p.path(), kMaxPathBytes); !s.ok()) return s;
  return engine::CgroupSnapshot{p.id(), p.path()};
}

// The reader's bounds (state::ReadContainerLabels): at most 512 labels of at most 4096 bytes.
constexpr int kMaxContainerLabels = 512;
constexpr size_t kMaxLabelTextBytes = 4096;

absl::StatusOr<engine::Input> DecodeContainer(const v1::ContainerInfo& p) {
  const Field f("container");
  const std::string& id = p.id();
  if (!state::IsContainerId(id)) {
    return Invalid(Field(f, "id"), "is not a container id (64 lower-case hex digits)");
  }
  const Field labels(f, "labels");
  if (absl::Status s = CheckCount(labels, p.labels_size(), kMaxContainerLabels); !s.ok()) {
    return s;
  }
  engine::ContainerInfo e;
  e.id = id;
  e.found = p.found();
  for (int i = 0; i < p.labels_size(); ++i) {
    const Field at = labels.At(i);
    absl::Status s = CheckLen(Field(at, "key"), p.labels(i).key(), kMaxLabelTextBytes);
    if (s.ok()) s = CheckLen(Field(at, "value"), p.labels(i).value(), kMaxLabelTextBytes);
    if (!s.ok()) return s;
    if (p.labels(i).key().empty()) return Invalid(Field(at, "key"), "is empty");
    if (!e.labels.emplace(p.labels(i).key(), p.labels(i).value()).second) {
      return Invalid(Field(at, "key"), "repeats an earlier label");
    }
  }
  if (!e.found && !e.labels.empty()) {
    return Invalid(labels, "given for a container no runtime knew (found is false)");
  }
  return e;
}

}  // namespace

void ToProto(const engine::Input& input, v1::Event* out) {
  out->Clear();
  std::visit([out](const auto& e) { Encode(e, out); }, input);
}

v1::Event ToProto(const engine::Input& input) {
  v1::Event out;
  ToProto(input, &out);
  return out;
}

absl::StatusOr<engine::Input> FromProto(const v1::Event& event) {
  switch (event.kind_case()) {
    case v1::Event::kExec:
      return DecodeExec(event.exec());
    case v1::Event::kExit:
      return DecodeExit(event.exit());
    case v1::Event::kFork:
      return DecodeFork(event.fork());
    case v1::Event::kCgroupMkdir:
      return DecodeCgroupMkdir(event.cgroup_mkdir());
    case v1::Event::kConnect:
      return DecodeConnect(event.connect());
    case v1::Event::kFlow:
      return DecodeFlowEvent(event.flow());
    case v1::Event::kFileOpen:
      return DecodeFileOpen(event.file_open());
    case v1::Event::kDns:
      return DecodeDns(event.dns());
    case v1::Event::kTls:
      return DecodeTls(event.tls());
    case v1::Event::kFlowTotals:
      return DecodeFlowTotals(event.flow_totals());
    case v1::Event::kFileTotals:
      return DecodeFileTotals(event.file_totals());
    case v1::Event::kProcessSnapshot:
      return DecodeProcessSnapshot(event.process_snapshot());
    case v1::Event::kCgroupSnapshot:
      return DecodeCgroupSnapshot(event.cgroup_snapshot());
    case v1::Event::kClockSync:
      return engine::ClockSync{event.clock_sync().boot_to_epoch_ns()};
    case v1::Event::kPayload:
      return DecodePayload(event.payload());
    case v1::Event::kContainer:
      return DecodeContainer(event.container());
    case v1::Event::KIND_NOT_SET:
      break;
  }
  // Unknown oneof members are kept as unknown fields, so a newer kind also lands here.
  return absl::InvalidArgumentError(
      "event: no kind set (an empty record, or a kind written by a newer sluice)");
}

}  // namespace sluice::replay
