#include "agent/bpf/sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

#include "agent/common/unique_fd.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sluice/sluice_sensor.skel.h"

namespace sluice::bpf {
namespace {

// libbpf reports through one process-wide print callback. While a load runs we keep the last
// lines (the verifier log ends with the reason) so the error can carry them; otherwise warnings
// go to stderr as they come.
constexpr size_t kLogTailLines = 40;
std::mutex g_log_mu;
bool g_capturing = false;
std::deque<std::string> g_log_tail;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[4096];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_capturing) {
    for (absl::string_view line : absl::StrSplit(buf, '\n', absl::SkipEmpty())) {
      g_log_tail.emplace_back(line);
      if (g_log_tail.size() > kLogTailLines) g_log_tail.pop_front();
    }
    return 0;
  }
  if (level == LIBBPF_DEBUG) return 0;
  fprintf(stderr, "sluiced: libbpf: %s", buf);
  return 0;
}

class LogCapture {
 public:
  LogCapture() {
    libbpf_set_print(LibbpfPrint);
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_tail.clear();
    g_capturing = true;
  }
  ~LogCapture() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_capturing = false;
  }
  std::string Tail() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    return absl::StrJoin(g_log_tail, "\n");
  }
};


// Copies one record into the batch being merged; the ring slot is released when we return.
int RingCallback(void* ctx, void* data, size_t size) {
  auto* batch = static_cast<std::vector<std::vector<uint8_t>>*>(ctx);
  const auto* bytes = static_cast<const uint8_t*>(data);
  batch->emplace_back(bytes, bytes + size);
  return 0;
}

// Boot-time timestamp of a record, or 0 when it is too short to carry a header (the decoder
// rejects it later with a counted error; ordering it first is harmless).
uint64_t RecordTime(const std::vector<uint8_t>& r) {
  uint64_t ts = 0;
  if (r.size() >= offsetof(sluice_event_header, ts_ns) + sizeof(ts)) {
    std::memcpy(&ts, r.data() + offsetof(sluice_event_header, ts_ns), sizeof(ts));
  }
  return ts;
}

}  // namespace

void Sensor::SkelDeleter::operator()(::sluice_sensor* s) const { sluice_sensor__destroy(s); }
void Sensor::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }
void Sensor::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

absl::StatusOr<std::unique_ptr<Sensor>> Sensor::Load() {
  LogCapture capture;
  std::unique_ptr<Sensor> sensor(new Sensor());  // private constructor: make_unique cannot
  sensor->skel_.reset(sluice_sensor__open());
  if (!sensor->skel_) {
    return absl::InternalError(
        absl::StrCat("cannot open BPF object: ", strerror(errno), "\n", capture.Tail()));
  }
  if (int err = sluice_sensor__load(sensor->skel_.get()); err != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "BPF programs were rejected by the kernel (", strerror(-err),
        "); verifier log tail:\n", capture.Tail()));
  }
  return sensor;
}

Sensor::~Sensor() {
  net_ring_.reset();
  proc_ring_.reset();
  DetachAll();
  skel_.reset();
}

void Sensor::DetachAll() {
  links_.clear();
  for (auto& p : probes_) p.attached = false;
}

absl::Status Sensor::AttachOne(const char* prog_name, const std::string& hook, int cgroup_fd) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name);
  if (prog == nullptr) return absl::InternalError(absl::StrCat("no BPF program ", prog_name));
  bpf_link* link = cgroup_fd >= 0 ? bpf_program__attach_cgroup(prog, cgroup_fd)
                                  : bpf_program__attach(prog);
  probes_.push_back({prog_name, hook, link != nullptr});
  if (link == nullptr) {
    int err = errno;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot attach ", prog_name, " to ", hook, ": ", strerror(err)));
  }
  links_.emplace_back(link);
  return absl::OkStatus();
}

absl::Status Sensor::Attach(const std::string& cgroup2_root) {
  struct Hook {
    const char* prog;
    const char* hook;
    bool cgroup;
  };
  // Order matters: the connect tracepoints and process tracking are live before the enforcement
  // hooks start deciding, so no decision is made that the agent cannot see.
  static constexpr Hook kHooks[] = {
      {"sluice_exec", "tracepoint/sched/sched_process_exec", false},
      {"sluice_fork", "tracepoint/sched/sched_process_fork", false},
      {"sluice_exit", "tracepoint/sched/sched_process_exit", false},
      {"sluice_cgroup_mkdir", "tracepoint/cgroup/cgroup_mkdir", false},
      {"sluice_enter_connect", "tracepoint/syscalls/sys_enter_connect", false},
      {"sluice_exit_connect", "tracepoint/syscalls/sys_exit_connect", false},
      {"sluice_connect4", "cgroup/connect4", true},
      {"sluice_connect6", "cgroup/connect6", true},
  };
  UniqueFd cgroup_fd(open(cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup_fd.get() < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open cgroup v2 root ", cgroup2_root, ": ", strerror(errno)));
  }
  LogCapture capture;
  for (const Hook& h : kHooks) {
    absl::Status s = AttachOne(h.prog, h.hook, h.cgroup ? cgroup_fd.get() : -1);
    if (!s.ok()) {
      DetachAll();
      std::string tail = capture.Tail();
      return tail.empty() ? s : absl::Status(s.code(), absl::StrCat(s.message(), "\n", tail));
    }
  }
  return absl::OkStatus();
}

absl::Status Sensor::StartRings(RecordHandler handler) {
  handler_ = std::move(handler);
  proc_ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.proc_events), RingCallback, &batch_,
                                    nullptr));
  net_ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.net_events), RingCallback, &batch_,
                                   nullptr));
  if (!proc_ring_ || !net_ring_) {
    return absl::InternalError(absl::StrCat("cannot create ring buffer reader: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Sensor::Poll(int timeout_ms) {
  if (!proc_ring_ || !net_ring_) return absl::FailedPreconditionError("rings not started");
  // Wait for a wakeup on either ring without consuming: the order of consumption matters.
  pollfd fds[2] = {{ring_buffer__epoll_fd(proc_ring_.get()), POLLIN, 0},
                   {ring_buffer__epoll_fd(net_ring_.get()), POLLIN, 0}};
  if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
    return absl::InternalError(absl::StrCat("ring buffer poll: ", strerror(errno)));
  }
  // A process's exec is submitted before it can connect, so draining the network ring first and
  // the process ring second guarantees that every exec/fork preceding a network record is in
  // this batch; sorting by timestamp then hands the engine causal order across both rings.
  // Drain explicitly: probes submit with BPF_RB_NO_WAKEUP below a fill watermark.
  batch_.clear();
  int n = ring_buffer__consume(net_ring_.get());
  int m = n < 0 ? 0 : ring_buffer__consume(proc_ring_.get());
  if (n < 0 || m < 0) {
    const int err = n < 0 ? n : m;
    if (err != -EINTR) {
      return absl::InternalError(absl::StrCat("ring buffer consume: ", strerror(-err)));
    }
  }
  std::stable_sort(batch_.begin(), batch_.end(),
                   [](const auto& a, const auto& b) { return RecordTime(a) < RecordTime(b); });
  for (const auto& r : batch_) handler_(absl::Span<const uint8_t>(r.data(), r.size()));
  const int handled = static_cast<int>(batch_.size());
  batch_.clear();
  return handled;
}

LossCounters Sensor::ReadLoss() const {
  LossCounters out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> values(ncpu);
  for (uint32_t type = 0; type < SLUICE_EV_TYPE_MAX; ++type) {
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.event_loss), &type, values.data()) == 0) {
      for (uint64_t v : values) out.ring_full[type] += v;
    }
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.map_full), &type, values.data()) == 0) {
      for (uint64_t v : values) out.map_full[type] += v;
    }
  }
  return out;
}

int Sensor::selector_cfg_fd() const { return bpf_map__fd(skel_->maps.selector_cfg); }
int Sensor::cgroup_match_fd() const { return bpf_map__fd(skel_->maps.cgroup_match); }
int Sensor::exe_match_fd() const { return bpf_map__fd(skel_->maps.exe_match); }
int Sensor::task_match_fd() const { return bpf_map__fd(skel_->maps.task_match); }
int Sensor::workload_cfg_fd() const { return bpf_map__fd(skel_->maps.workload_cfg); }
int Sensor::egress_allow_fd() const { return bpf_map__fd(skel_->maps.egress_allow); }

}  // namespace sluice::bpf
