#include "agent/bpf/tls_attach.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/bpf/tls_libs.h"

namespace sluice::bpf {
namespace {

struct Probe {
  const char* prog;
  const char* func;
  bool ret;
  const char* any_prog = nullptr;  // the write entry's system-wide twin (TlsAttachMode::kSystem)
};

// Egress needs only the entry probes; reads need the return probe for the length.
constexpr Probe kOpenSsl[] = {
    {"sluice_ssl_write", "SSL_write", false, "sluice_ssl_write_any"},
    {"sluice_ssl_write_ex", "SSL_write_ex", false, "sluice_ssl_write_ex_any"},
    {"sluice_ssl_read", "SSL_read", false},
    {"sluice_ssl_read_ret", "SSL_read", true},
    {"sluice_ssl_read_ex", "SSL_read_ex", false},
    {"sluice_ssl_read_ex_ret", "SSL_read_ex", true},
};
constexpr Probe kGnuTls[] = {
    {"sluice_gnutls_send", "gnutls_record_send", false, "sluice_gnutls_send_any"},
    {"sluice_gnutls_recv", "gnutls_record_recv", false},
    {"sluice_gnutls_recv_ret", "gnutls_record_recv", true},
};

}  // namespace

void TlsAttacher::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

TlsAttacher::TlsAttacher(const Sensor* sensor, std::vector<TlsTarget> system_libs,
                         TlsAttachMode mode)
    : sensor_(sensor), system_libs_(std::move(system_libs)), mode_(mode) {
  // The first per-task perf event on a host flips the kernel's perf_sched_events static key
  // (code patching on every CPU, measured ~20 ms here), and the key flips back once the last
  // one closes. Without this dummy event every attach to a fresh process would pay that, and a
  // short-lived process (curl) would finish its TLS call before its uprobes exist. A software
  // dummy event on the agent itself costs nothing.
  perf_event_attr attr{};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_DUMMY;
  attr.disabled = 1;
  keep_perf_sched_.reset(static_cast<int>(
      syscall(SYS_perf_event_open, &attr, 0 /* this process */, -1, -1, PERF_FLAG_FD_CLOEXEC)));
  closer_ = std::thread([this] { CloserLoop(); });
}

TlsAttacher::~TlsAttacher() {
  {
    std::lock_guard<std::mutex> lock(closer_mu_);
    stopping_ = true;
  }
  closer_cv_.notify_one();
  closer_.join();  // closes everything queued; links_ is destroyed after this
}

void TlsAttacher::CloserLoop() {
  std::unique_lock<std::mutex> lock(closer_mu_);
  while (true) {
    closer_cv_.wait(lock, [this] { return stopping_ || !to_close_.empty(); });
    while (!to_close_.empty()) {
      ProcessLinks links = std::move(to_close_.front());
      to_close_.pop_front();
      lock.unlock();
      links.links.clear();  // the slow part, outside the lock
      lock.lock();
    }
    if (stopping_) return;
  }
}

const absl::flat_hash_map<std::string, uint64_t>& TlsAttacher::Offsets(const std::string& path) {
  auto it = offsets_.find(path);
  if (it != offsets_.end()) return it->second;
  absl::flat_hash_map<std::string, uint64_t> m;
  if (auto syms = TlsSymbolOffsets(path); syms.ok()) {
    for (const auto& s : *syms) m.emplace(s.name, s.offset);
  }
  return offsets_.emplace(path, std::move(m)).first->second;
}

absl::Status TlsAttacher::AttachSystemWide() {
  if (mode_ != TlsAttachMode::kSystem) return absl::OkStatus();
  LibbpfLogCapture capture;
  for (const TlsTarget& lib : system_libs_) {
    const auto& offsets = Offsets(lib.path);
    auto attach = [&](const auto& probes) -> absl::Status {
      for (const Probe& p : probes) {
        if (p.any_prog == nullptr) continue;
        bpf_program* prog = sensor_->program(p.any_prog);
        auto off = offsets.find(p.func);
        if (prog == nullptr || off == offsets.end()) continue;  // e.g. no SSL_write_ex in 1.1
        bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1 /* every process */,
                                                         lib.path.c_str(), off->second, nullptr);
        if (link == nullptr) {
          const int err = errno;
          system_links_.clear();
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot attach the system-wide TLS uprobe on ", p.func, " in ", lib.path, ": ",
              strerror(err), "\n", capture.Tail()));
        }
        system_links_.emplace_back(link);
      }
      return absl::OkStatus();
    };
    absl::Status s = lib.lib == TlsLib::kOpenSsl ? attach(kOpenSsl) : attach(kGnuTls);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

int TlsAttacher::AttachLib(uint32_t pid, const TlsTarget& lib, ProcessLinks* out,
                           bool skip_writes) {
  if (std::find(out->paths.begin(), out->paths.end(), lib.path) != out->paths.end()) return 0;
  out->paths.push_back(lib.path);
  // Offsets resolved once per library: attaching must be fast, the process is already running
  // towards its first TLS call.
  const auto& offsets = Offsets(lib.path);
  int attached = 0;
  bool gone = false;
  LibbpfLogCapture quiet;
  auto attach_all = [&](const auto& probes) {
    for (const Probe& p : probes) {
      if (gone) return;
      if (skip_writes && p.any_prog != nullptr) continue;
      bpf_program* prog = sensor_->program(p.prog);
      auto off = offsets.find(p.func);
      if (prog == nullptr || off == offsets.end()) continue;  // e.g. no SSL_write_ex in 1.1
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = p.ret);
      bpf_link* link = bpf_program__attach_uprobe_opts(prog, static_cast<pid_t>(pid),
                                                       lib.path.c_str(), off->second, &opts);
      if (link == nullptr) {
        // The process exited before we got to it, or the kernel refused: counted, not fatal.
        last_errno_ = errno;
        ++failures_;
        if (errno == ESRCH) {
          gone = true;  // exited already: a short-lived process, nothing to say
        } else {
          fprintf(stderr, "sluiced: TLS uprobe %s on pid %u: %s\n", p.prog, pid,
                  quiet.Tail().c_str());
        }
        continue;
      }
      out->links.emplace_back(link);
      ++attached;
    }
  };
  if (lib.lib == TlsLib::kOpenSsl) {
    attach_all(kOpenSsl);
  } else {
    attach_all(kGnuTls);
  }
  return attached;
}

int TlsAttacher::Attach(uint32_t pid, const std::vector<TlsTarget>& extra) {
  ProcessLinks& links = links_[pid];
  int n = 0;
  const bool system_writes = mode_ == TlsAttachMode::kSystem;
  for (const TlsTarget& lib : system_libs_) n += AttachLib(pid, lib, &links, system_writes);
  for (const TlsTarget& lib : extra) {
    // A library the system-wide probes cover already (the same file), or one of its own.
    const bool covered = system_writes &&
        std::any_of(system_libs_.begin(), system_libs_.end(),
                    [&](const TlsTarget& t) { return t.path == lib.path; });
    n += AttachLib(pid, lib, &links, covered);
  }
  return n;
}

void TlsAttacher::Detach(uint32_t pid) {
  auto it = links_.find(pid);
  if (it == links_.end()) return;
  {
    std::lock_guard<std::mutex> lock(closer_mu_);
    to_close_.push_back(std::move(it->second));
  }
  links_.erase(it);
  closer_cv_.notify_one();
}

TlsAttachStats TlsAttacher::stats() const {
  TlsAttachStats st;
  st.processes = links_.size();
  for (const auto& [pid, l] : links_) st.links += l.links.size();
  st.failures = failures_;
  st.last_errno = static_cast<uint64_t>(last_errno_);
  st.system_links = system_links_.size();
  return st;
}

}  // namespace sluice::bpf
