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
#include <thread>

#include "agent/bpf/hook_probe.h"
#include "agent/bpf/pins.h"
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
  // libbpf hands over a whole verifier log in one call: size the buffer to the message, or the
  // reason line at its end is cut off.
  va_list copy;
  va_copy(copy, args);
  const int want = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string buf(want > 0 ? static_cast<size_t>(want) + 1 : 1, '\0');
  vsnprintf(buf.data(), buf.size(), fmt, args);
  buf.resize(want > 0 ? static_cast<size_t>(want) : 0);
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_capturing) {
    for (absl::string_view line : absl::StrSplit(buf, '\n', absl::SkipEmpty())) {
      g_log_tail.emplace_back(line);
      if (g_log_tail.size() > kLogTailLines) g_log_tail.pop_front();
    }
    return 0;
  }
  if (level == LIBBPF_DEBUG) return 0;
  fprintf(stderr, "sluiced: libbpf: %s", buf.c_str());
  return 0;
}

// Boot-time timestamp of a record, or 0 when it is too short to carry a header (the decoder
// rejects it later with a counted error; ordering it first is harmless).
uint64_t RecordTime(const uint8_t* r, size_t size) {
  uint64_t ts = 0;
  if (size >= offsetof(sluice_event_header, ts_ns) + sizeof(ts)) {
    std::memcpy(&ts, r + offsetof(sluice_event_header, ts_ns), sizeof(ts));
  }
  return ts;
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() {
  libbpf_set_print(LibbpfPrint);
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log_tail.clear();
  g_capturing = true;
}

LibbpfLogCapture::~LibbpfLogCapture() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_capturing = false;
}

std::string LibbpfLogCapture::Tail() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return absl::StrJoin(g_log_tail, "\n");
}

void Sensor::SkelDeleter::operator()(::sluice_sensor* s) const { sluice_sensor__destroy(s); }
void Sensor::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }
void Sensor::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

namespace {

// Hook families with a preferred variant (DESIGN §4 table). Before loading, the feature probe
// (hook_probe.h) tries each family's preferred hook on this kernel; the family then loads either
// its preferred programs or its fallback programs, never both (they count the same bytes).
// Programs not named here always load.
struct Family {
  const char* name;  // what the family observes
  HookKind kind;
  const char* target;  // the preferred hook's tracepoint / kernel function / LSM hook
  const char* preferred[2];  // program names, null-terminated; attached to HookName(kind, target)
  const char* fallback[7];   // program names, null-terminated; their hooks are in kHooks
  // Programs that complete the preferred ones at hooks of their own (in kHooks); they load and
  // attach only with them. Null-terminated.
  const char* with_preferred[4];
};
constexpr Family kFamilies[] = {
    {"process exec", HookKind::kTpBtf, "sched_process_exec", {"sluice_exec_btf"}, {"sluice_exec"},
     {}},
    {"process exit", HookKind::kTpBtf, "sched_process_exit", {"sluice_exit_btf"}, {"sluice_exit"},
     {}},
    {"process fork", HookKind::kTpBtf, "sched_process_fork", {"sluice_fork_btf"}, {"sluice_fork"},
     {}},
    {"file fork", HookKind::kTpBtf, "sched_process_fork", {"sluice_file_fork_btf"},
     {"sluice_file_fork"}, {}},
    // LSM file_open parks the open for the open syscalls' exits, which know the fd; the
    // fallback is those exits alone, reading the path the caller passed.
    {"file open", HookKind::kLsm, "file_open", {"sluice_lsm_file_open"},
     {"sluice_exit_openat_path", "sluice_exit_openat2_path", "sluice_exit_open_path_legacy"},
     {"sluice_exit_openat", "sluice_exit_openat2", "sluice_exit_open_legacy"}},
    {"file read", HookKind::kFexit, "vfs_read", {"sluice_fexit_vfs_read"},
     {"sluice_exit_read", "sluice_exit_pread64"}, {}},
    {"file readv", HookKind::kFexit, "vfs_readv", {"sluice_fexit_vfs_readv"},
     {"sluice_exit_readv", "sluice_exit_preadv", "sluice_exit_preadv2"}, {}},
    // The socket a TLS library call reached: the sock tracepoints (6.3+) see socket calls only;
    // the syscall fallback runs on every write/read of every process.
    {"tls send tie", HookKind::kTpBtf, "sock_send_length", {"sluice_tls_send_btf"},
     {"sluice_tls_write", "sluice_tls_writev", "sluice_tls_sendto", "sluice_tls_sendmsg"}, {}},
    {"tls recv tie", HookKind::kTpBtf, "sock_recv_length", {"sluice_tls_recv_btf"},
     {"sluice_tls_read", "sluice_tls_readv", "sluice_tls_recvfrom", "sluice_tls_recvmsg"}, {}},
};

template <size_t N>
bool Names(const char* const (&names)[N], absl::string_view prog) {
  for (const char* n : names) {
    if (n == nullptr) break;
    if (prog == n) return true;
  }
  return false;
}

// Attached at start. Uprobes (TLS) are attached per watched process by the TLS attacher.
struct Hook {
  const char* prog;
  const char* hook;
  bool cgroup;    // attach at the cgroup v2 root (multi-attach link)
  bool required;  // a failure aborts the start; otherwise the probe is reported as missing
  // The same probe under an older kernel's name of its hook: program and hook, tried when this
  // hook cannot attach (only then is the probe reported as missing).
  const char* older_prog = nullptr;
  const char* older_hook = nullptr;
};
// Not in kFamilies, so on every kernel: connect/accept stay on the syscall tracepoints because
// they see the fd and the syscall's result (EINPROGRESS included), which ties TLS calls and
// flows to sockets; fentry tcp_connect would not (cgroup/connect4/6 sees every attempt anyway).
// TCP state and bytes come from tp_btf inet_sock_set_state + the socket itself, which already
// carries the exact totals fexit tcp_close would read. mmap's length is only in the syscall.
// Order matters: process tracking and the observation probes are live before the enforcement
// hooks start deciding, so no decision is made that the agent cannot see.
constexpr Hook kHooks[] = {
    {"sluice_exec", "tracepoint/sched/sched_process_exec", false, true},
    {"sluice_exit", "tracepoint/sched/sched_process_exit", false, true},
    {"sluice_fork", "tracepoint/sched/sched_process_fork", false, true},
    {"sluice_cgroup_mkdir", "tracepoint/cgroup/cgroup_mkdir", false, true},
    {"sluice_enter_connect", "tracepoint/syscalls/sys_enter_connect", false, true},
    {"sluice_exit_connect", "tracepoint/syscalls/sys_exit_connect", false, true},
    {"sluice_sock_state", "tp_btf/inet_sock_set_state", false, true},
    {"sluice_exit_accept4", "tracepoint/syscalls/sys_exit_accept4", false, true},
    {"sluice_exit_accept", "tracepoint/syscalls/sys_exit_accept", false, false},
    // Accepts through an io_uring (the submission, for multishot accepts, and the completion).
    // Not required: a kernel built without io_uring has no such tracepoints.
    {"sluice_uring_submit", "tracepoint/io_uring/io_uring_submit_req", false, false,
     "sluice_uring_submit_sqe", "tracepoint/io_uring/io_uring_submit_sqe"},  // before 6.2
    {"sluice_uring_accept", "tracepoint/io_uring/io_uring_complete", false, false},
    {"sluice_sendmsg4", "cgroup/sendmsg4", true, true},
    {"sluice_sendmsg6", "cgroup/sendmsg6", true, true},
    {"sluice_skb_egress", "cgroup_skb/egress", true, true},
    {"sluice_skb_ingress", "cgroup_skb/ingress", true, true},
    {"sluice_sock_release", "cgroup/sock_release", true, true},
    {"sluice_exit_openat", "tracepoint/syscalls/sys_exit_openat", false, true},
    {"sluice_exit_openat2", "tracepoint/syscalls/sys_exit_openat2", false, false},
    {"sluice_exit_open_legacy", "tracepoint/syscalls/sys_exit_open", false, false},
    {"sluice_exit_openat_path", "tracepoint/syscalls/sys_exit_openat", false, true},
    {"sluice_exit_openat2_path", "tracepoint/syscalls/sys_exit_openat2", false, false},
    {"sluice_exit_open_path_legacy", "tracepoint/syscalls/sys_exit_open", false, false},
    {"sluice_exit_read", "tracepoint/syscalls/sys_exit_read", false, true},
    {"sluice_exit_pread64", "tracepoint/syscalls/sys_exit_pread64", false, false},
    {"sluice_exit_readv", "tracepoint/syscalls/sys_exit_readv", false, false},
    {"sluice_exit_preadv", "tracepoint/syscalls/sys_exit_preadv", false, false},
    {"sluice_exit_preadv2", "tracepoint/syscalls/sys_exit_preadv2", false, false},
    {"sluice_exit_sendfile64", "tracepoint/syscalls/sys_exit_sendfile64", false, false},
    {"sluice_exit_splice", "tracepoint/syscalls/sys_exit_splice", false, false},
    {"sluice_exit_copy_file_range", "tracepoint/syscalls/sys_exit_copy_file_range", false, false},
    {"sluice_exit_mmap", "tracepoint/syscalls/sys_exit_mmap", false, false},
    {"sluice_enter_close", "tracepoint/syscalls/sys_enter_close", false, true},
    {"sluice_exit_dup", "tracepoint/syscalls/sys_exit_dup", false, true},
    {"sluice_exit_dup2", "tracepoint/syscalls/sys_exit_dup2", false, false},
    {"sluice_exit_dup3", "tracepoint/syscalls/sys_exit_dup3", false, true},
    {"sluice_exit_fcntl", "tracepoint/syscalls/sys_exit_fcntl", false, true},
    // Reads and opens through an io_uring, which no syscall tracepoint or vfs_read sees, on
    // every kernel. Not required: a kernel built without io_uring has no such tracepoint.
    {"sluice_io_uring_complete", "tracepoint/io_uring/io_uring_complete", false, false},
    {"sluice_file_fork", "tracepoint/sched/sched_process_fork", false, true},
    {"sluice_tls_write", "tracepoint/syscalls/sys_enter_write", false, true},
    {"sluice_tls_writev", "tracepoint/syscalls/sys_enter_writev", false, false},
    {"sluice_tls_sendto", "tracepoint/syscalls/sys_enter_sendto", false, false},
    {"sluice_tls_sendmsg", "tracepoint/syscalls/sys_enter_sendmsg", false, false},
    {"sluice_tls_read", "tracepoint/syscalls/sys_enter_read", false, true},
    {"sluice_tls_readv", "tracepoint/syscalls/sys_enter_readv", false, false},
    {"sluice_tls_recvfrom", "tracepoint/syscalls/sys_enter_recvfrom", false, false},
    {"sluice_tls_recvmsg", "tracepoint/syscalls/sys_enter_recvmsg", false, false},
    {"sluice_connect4", "cgroup/connect4", true, true},
    {"sluice_connect6", "cgroup/connect6", true, true},
    {"sluice_enforce_sendmsg4", "cgroup/sendmsg4", true, true},
    {"sluice_enforce_sendmsg6", "cgroup/sendmsg6", true, true},
};

}  // namespace

namespace {

bool SameProgram(int link_fd, int prog_fd) {
  bpf_link_info link{};
  uint32_t len = sizeof(link);
  if (bpf_obj_get_info_by_fd(link_fd, &link, &len) != 0) return false;
  UniqueFd old_prog(bpf_prog_get_fd_by_id(link.prog_id));
  if (!old_prog.valid()) return false;
  bpf_prog_info a{}, b{};
  uint32_t la = sizeof(a), lb = sizeof(b);
  if (bpf_obj_get_info_by_fd(old_prog.get(), &a, &la) != 0 ||
      bpf_obj_get_info_by_fd(prog_fd, &b, &lb) != 0) {
    return false;
  }
  return a.type == b.type && std::memcmp(a.tag, b.tag, sizeof(a.tag)) == 0;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<bpf_map*, UniqueFd>>> Sensor::PinnedTwins() {
  std::vector<std::pair<bpf_map*, UniqueFd>> twins;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata/.bss belong to their programs
    const std::string path = PinPath(pin_dir_, "maps", bpf_map__name(map));
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd.valid()) {
      return absl::NotFoundError(absl::StrCat("map ", bpf_map__name(map), " is not pinned"));
    }
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot inspect pinned map ", path, ": ", strerror(errno)));
    }
    if (info.type != static_cast<uint32_t>(bpf_map__type(map)) ||
        info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map) ||
        info.max_entries != bpf_map__max_entries(map) ||
        info.map_flags != bpf_map__map_flags(map)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "map ", bpf_map__name(map), " has another layout (key ", info.key_size, "/",
          bpf_map__key_size(map), ", value ", info.value_size, "/", bpf_map__value_size(map),
          ", entries ", info.max_entries, "/", bpf_map__max_entries(map), ")"));
    }
    twins.emplace_back(map, std::move(fd));
  }
  return twins;
}

absl::Status Sensor::PinMaps() {
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    const std::string path = PinPath(pin_dir_, "maps", bpf_map__name(map));
    unlink(path.c_str());  // an earlier agent's map of another layout (its programs keep it)
    if (int err = bpf_map__pin(map, path.c_str()); err != 0) {
      return absl::InternalError(absl::StrCat("cannot pin ", path, ": ", strerror(-err)));
    }
  }
  return absl::OkStatus();
}

void Sensor::DropStalePins(const std::vector<std::string>& links) {
  for (const std::string& name : PinnedNames(pin_dir_, "links")) {
    if (std::find(links.begin(), links.end(), name) == links.end()) {
      unlink(PinPath(pin_dir_, "links", name).c_str());  // nobody holds it: detached
    }
  }
  for (const std::string& name : PinnedNames(pin_dir_, "maps")) {
    if (bpf_object__find_map_by_name(skel_->obj, name.c_str()) == nullptr) {
      unlink(PinPath(pin_dir_, "maps", name).c_str());
    }
  }
}

absl::StatusOr<std::unique_ptr<Sensor>> Sensor::Load(const std::string& pin_dir,
                                                     bool allow_preferred) {
  UniqueFd pin_lock;
  bool previous = false;
  if (!pin_dir.empty()) {
    auto lock = LockPinDir(pin_dir);
    if (!lock.ok()) return lock.status();
    pin_lock = *std::move(lock);
    previous = !PinnedNames(pin_dir, "maps").empty() || !PinnedNames(pin_dir, "links").empty();
  }
  // The feature probe: which families can use their preferred hook here. When the kernel still
  // refuses the object with them (a verifier difference the probe cannot see), load again with
  // every family on its fallback.
  std::vector<FamilyChoice> choices;
  {
    const std::string lsms = allow_preferred ? ReadActiveLsms() : "";
    for (const Family& f : kFamilies) {
      FamilyChoice c{f.name, HookName(f.kind, f.target), false,
                     "preferred hooks turned off (--hooks fallback)"};
      if (allow_preferred) {
        HookSupport h = ProbeHook(f.kind, f.target, lsms);
        c.preferred = h.ok;
        c.reason = h.reason;
      }
      choices.push_back(std::move(c));
    }
  }
  std::string first_error;
  for (bool with_preferred : {true, false}) {
    if (!with_preferred) {
      if (std::none_of(choices.begin(), choices.end(),
                       [](const FamilyChoice& c) { return c.preferred; })) {
        break;  // the first pass already loaded every fallback
      }
      for (auto& c : choices) {
        if (c.preferred) {
          c.preferred = false;
          c.reason = "the kernel refused the object with the preferred programs";
        }
      }
    }
    LibbpfLogCapture capture;
    std::unique_ptr<Sensor> sensor(new Sensor());  // private constructor: make_unique cannot
    sensor->skel_.reset(sluice_sensor__open());
    if (!sensor->skel_) {
      return absl::InternalError(
          absl::StrCat("cannot open BPF object: ", strerror(errno), "\n", capture.Tail()));
    }
    sensor->pin_dir_ = pin_dir;
    if (!pin_dir.empty()) {
      sensor->pin_state_ = previous ? PinState::kAdopted : PinState::kFresh;
      if (previous) {
        auto twins = sensor->PinnedTwins();
        if (twins.ok()) {
          for (auto& [map, fd] : *twins) {
            if (int err = bpf_map__reuse_fd(map, fd.get()); err != 0) {
              return absl::InternalError(absl::StrCat("cannot reuse pinned map ",
                                                      bpf_map__name(map), ": ", strerror(-err)));
            }
          }
        } else {
          sensor->pin_state_ = PinState::kReplaced;
          sensor->pin_note_ = std::string(twins.status().message());
        }
      }
    }
    for (size_t i = 0; i < std::size(kFamilies); ++i) {
      for (const char* name : kFamilies[i].preferred) {
        if (name == nullptr) break;
        bpf_program* prog = bpf_object__find_program_by_name(sensor->skel_->obj, name);
        if (prog) bpf_program__set_autoload(prog, choices[i].preferred);
      }
      for (const char* name : kFamilies[i].fallback) {
        if (name == nullptr) break;
        bpf_program* prog = bpf_object__find_program_by_name(sensor->skel_->obj, name);
        if (prog) bpf_program__set_autoload(prog, !choices[i].preferred);
      }
      for (const char* name : kFamilies[i].with_preferred) {
        if (name == nullptr) break;
        bpf_program* prog = bpf_object__find_program_by_name(sensor->skel_->obj, name);
        if (prog) bpf_program__set_autoload(prog, choices[i].preferred);
      }
    }
    // Uprobes are attached per process later; they load like any program.
    int err = sluice_sensor__load(sensor->skel_.get());
    if (err == 0) {
      sensor->families_ = choices;
      if (sensor->pin_state_ == PinState::kFresh) {
        sensor->owns_pins_ = true;
        if (auto s = sensor->PinMaps(); !s.ok()) return s;
      }
      sensor->pin_lock_ = std::move(pin_lock);
      return sensor;
    }
    std::string msg = absl::StrCat("BPF programs were rejected by the kernel (", strerror(-err),
                                   "); verifier log tail:\n", capture.Tail());
    if (first_error.empty()) first_error = msg;
  }
  return absl::FailedPreconditionError(first_error);
}

Sensor::~Sensor() {
  for (auto& r : rings_) r.reset();
  // Without the pins, closing our fds below releases (detaches) everything. An earlier agent's
  // pins this one never took over (it failed before Attach finished) stay: its policy holds.
  if (!pin_dir_.empty() && owns_pins_ && !keep_pinned_) RemovePins(pin_dir_);
  DetachAll();
  skel_.reset();
}

void Sensor::DetachAll() {
  // Releasing a tracepoint link waits for an RCU grace period in the kernel (~80 ms measured
  // on the dev host): one after the other, the ~50 links took 3-4 s to stop the agent. Released
  // from several threads at once, the waits overlap.
  constexpr size_t kThreads = 16;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links = std::move(links_);
  links_.clear();
  std::vector<std::thread> threads;
  const size_t per = (links.size() + kThreads - 1) / kThreads;
  for (size_t first = 0; first < links.size(); first += per) {
    const size_t last = std::min(links.size(), first + per);
    threads.emplace_back([&links, first, last] {
      for (size_t i = first; i < last; ++i) links[i].reset();
    });
  }
  for (std::thread& t : threads) t.join();
  for (auto& p : probes_) p.attached = false;
}

absl::Status Sensor::AttachOne(const char* prog_name, const std::string& hook, int cgroup_fd,
                               const std::string& preferred) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name);
  if (prog == nullptr) return absl::InternalError(absl::StrCat("no BPF program ", prog_name));
  const std::string pin = pin_dir_.empty() ? "" : PinPath(pin_dir_, "links", prog_name);
  // The earlier agent's link for this program, if it pinned one.
  std::unique_ptr<bpf_link, LinkDeleter> old;
  if (!pin.empty() && pin_state_ != PinState::kFresh && access(pin.c_str(), F_OK) == 0) {
    old.reset(bpf_link__open(pin.c_str()));
  }
  bpf_link* link = nullptr;
  if (old && cgroup_fd >= 0 && bpf_link__update_program(old.get(), prog) == 0) {
    link = old.release();  // same link, new program: switched in one step
  } else if (old && pin_state_ == PinState::kAdopted &&
             SameProgram(bpf_link__fd(old.get()), bpf_program__fd(prog))) {
    link = old.release();  // the same code on the same maps: nothing to change
  }
  const bool adopted = link != nullptr;
  if (link == nullptr) {
    link = cgroup_fd >= 0 ? bpf_program__attach_cgroup(prog, cgroup_fd) : bpf_program__attach(prog);
  }
  ProbeStatus st{prog_name, hook, link != nullptr, preferred, !preferred.empty(), ""};
  if (link == nullptr) {
    int err = errno;
    st.error = strerror(err);
    probes_.push_back(st);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot attach ", prog_name, " to ", hook, ": ", strerror(err)));
  }
  probes_.push_back(st);
  links_.emplace_back(link);
  if (!pin.empty() && !adopted) {
    // The new link is attached; only now does the old one (if any) lose its pin, and with our
    // fd closed below, its attachment.
    unlink(pin.c_str());
    if (int err = bpf_link__pin(link, pin.c_str()); err != 0) {
      return absl::InternalError(absl::StrCat("cannot pin ", pin, ": ", strerror(-err)));
    }
  }
  old.reset();
  if (!pin.empty()) pinned_links_.push_back(prog_name);
  return absl::OkStatus();
}

absl::Status Sensor::Attach(const std::string& cgroup2_root) {
  UniqueFd cgroup_fd(open(cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup_fd.get() < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open cgroup v2 root ", cgroup2_root, ": ", strerror(errno)));
  }
  LibbpfLogCapture capture;
  auto fail = [&](const absl::Status& s) {
    DetachAll();
    std::string tail = capture.Tail();
    return tail.empty() ? s : absl::Status(s.code(), absl::StrCat(s.message(), "\n", tail));
  };
  for (const Hook& h : kHooks) {
    // A family's fallback programs, or in the place of its first one, its preferred programs
    // (the order of kHooks is kept either way).
    const Family* family = nullptr;
    const FamilyChoice* choice = nullptr;
    bool needs_preferred = false;
    for (size_t i = 0; i < std::size(kFamilies); ++i) {
      if (Names(kFamilies[i].fallback, h.prog)) {
        family = &kFamilies[i];
        choice = &families_[i];
      }
      if (Names(kFamilies[i].with_preferred, h.prog) && !families_[i].preferred) {
        needs_preferred = true;
      }
    }
    if (needs_preferred) continue;  // not loaded: its family is on the fallback
    if (family != nullptr && choice->preferred) {
      if (absl::string_view(h.prog) != family->fallback[0]) continue;
      for (const char* name : family->preferred) {
        if (name == nullptr) break;
        if (absl::Status s = AttachOne(name, choice->hook, -1, ""); !s.ok()) return fail(s);
      }
      continue;
    }
    absl::Status s = AttachOne(h.prog, h.hook, h.cgroup ? cgroup_fd.get() : -1,
                               family != nullptr ? choice->hook : "");
    if (!s.ok() && h.older_prog != nullptr && !probes_.empty() && probes_.back().probe == h.prog) {
      const ProbeStatus failed = probes_.back();
      probes_.pop_back();
      const size_t before = probes_.size();
      if (!AttachOne(h.older_prog, h.older_hook, -1, "").ok()) {
        // Neither: reported under the current name, as any missing hook.
        probes_.resize(before);
        probes_.push_back(failed);
      } else {
        s = absl::OkStatus();
      }
    }
    // Optional hooks (syscalls an older kernel may lack) are reported, not fatal.
    if (!s.ok() && h.required) return fail(s);
  }
  if (!pin_dir_.empty()) {
    if (pin_state_ == PinState::kReplaced) {
      if (auto s = PinMaps(); !s.ok()) return fail(s);
    }
    DropStalePins(pinned_links_);
    owns_pins_ = true;
  }
  return absl::OkStatus();
}

absl::Status Sensor::StartRings(RecordHandler handler) {
  handler_ = std::move(handler);
  // Drain order (see Poll): every ring before the process ring.
  bpf_map* maps[kRingCount] = {skel_->maps.net_events, skel_->maps.file_events,
                               skel_->maps.tls_events, skel_->maps.proc_events};
  for (int i = 0; i < kRingCount; ++i) {
    rings_[i].reset(ring_buffer__new(bpf_map__fd(maps[i]), &Sensor::RingCallback, &batch_,
                                     nullptr));
    if (!rings_[i]) {
      return absl::InternalError(
          absl::StrCat("cannot create ring buffer reader: ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Sensor::Poll(int timeout_ms) {
  if (!rings_[0]) return absl::FailedPreconditionError("rings not started");
  // Wait for a wakeup on any ring without consuming: the order of consumption matters.
  pollfd fds[kRingCount];
  for (int i = 0; i < kRingCount; ++i) fds[i] = {ring_buffer__epoll_fd(rings_[i].get()), POLLIN, 0};
  if (poll(fds, kRingCount, timeout_ms) < 0 && errno != EINTR) {
    return absl::InternalError(absl::StrCat("ring buffer poll: ", strerror(errno)));
  }
  // A process's exec/fork is submitted before it can connect, open or write, so draining the
  // other rings first and the process ring last guarantees that every exec/fork preceding a
  // record is in this batch; sorting by timestamp then hands the engine causal order across
  // rings. Drain explicitly: probes submit with BPF_RB_NO_WAKEUP below a fill watermark.
  batch_.bytes.clear();  // keeps its capacity: no allocation once the arena has grown
  batch_.refs.clear();
  for (int i = 0; i < kRingCount; ++i) {
    int n = ring_buffer__consume(rings_[i].get());
    if (n < 0 && n != -EINTR) {
      return absl::InternalError(absl::StrCat("ring buffer consume: ", strerror(-n)));
    }
  }
  using Ref = RecordBatch::Ref;
  std::stable_sort(batch_.refs.begin(), batch_.refs.end(),
                   [](const Ref& a, const Ref& b) { return a.ts < b.ts; });
  for (const Ref& r : batch_.refs) {
    handler_(absl::Span<const uint8_t>(batch_.bytes.data() + r.offset, r.size));
  }
  const int handled = static_cast<int>(batch_.refs.size());
  batch_.bytes.clear();
  batch_.refs.clear();
  return handled;
}

// Copies one record into the batch being merged; the ring slot is released when we return.
int Sensor::RingCallback(void* ctx, void* data, size_t size) {
  auto* batch = static_cast<RecordBatch*>(ctx);
  const auto* bytes = static_cast<const uint8_t*>(data);
  batch->refs.push_back({RecordTime(bytes, size), batch->bytes.size(), size});
  batch->bytes.insert(batch->bytes.end(), bytes, bytes + size);
  return 0;
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
int Sensor::flows_fd() const { return bpf_map__fd(skel_->maps.flows); }
int Sensor::severed_fd() const { return bpf_map__fd(skel_->maps.severed); }
int Sensor::exempt_fd() const { return bpf_map__fd(skel_->maps.exempt); }
int Sensor::file_io_fd() const { return bpf_map__fd(skel_->maps.file_io); }
int Sensor::open_files_fd() const { return bpf_map__fd(skel_->maps.open_files); }
int Sensor::fd_holders_fd() const { return bpf_map__fd(skel_->maps.fd_holders); }
int Sensor::fd_holder_drops_fd() const { return bpf_map__fd(skel_->maps.fd_holder_drops); }
int Sensor::flow_slot_reap_fd() const { return bpf_map__fd(skel_->maps.flow_slot_reap); }
std::vector<int> Sensor::inflight_fds() const {
  return {bpf_map__fd(skel_->maps.open_inflight), bpf_map__fd(skel_->maps.connect_inflight)};
}
FileClassMaps Sensor::file_class_maps() const {
  return {bpf_map__fd(skel_->maps.sensitive_prefix), bpf_map__fd(skel_->maps.sensitive_inode),
          bpf_map__fd(skel_->maps.sensitive_dir)};
}
int Sensor::sensor_cfg_fd() const { return bpf_map__fd(skel_->maps.sensor_cfg); }

bpf_program* Sensor::program(const char* name) const {
  return bpf_object__find_program_by_name(skel_->obj, name);
}

}  // namespace sluice::bpf
