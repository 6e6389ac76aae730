// The kernel half of sluice as one RAII object: open -> load -> attach of the BPF skeleton,
// the ring buffers, and the maps the enforce stage writes.
//
// Pinning (DESIGN §6, agent/bpf/pins.h): with a pin directory, every map and every link attached
// at start is pinned there, so the policy stays in force if the agent dies. A later Load finds
// them and
//  - adopts them when the pinned maps have this build's layout: the new programs use the pinned
//    maps (state, policy and counters carry over), each cgroup link is switched to the new
//    program in place with bpf_link_update (no moment without a program, never two), and each
//    tracepoint link whose program is the same code (same tag) is kept as it is;
//  - replaces them when the layout changed (an upgrade across ABI versions): fresh maps, cgroup
//    links still switched in place, other links attached anew before the old ones are released
//    (an event in that instant may be reported twice, never missed).
// Destroying the Sensor removes the pins and detaches everything, unless set_keep_pinned(true)
// asked to leave the kernel side in force for the next agent.
#ifndef SLUICE_AGENT_BPF_SENSOR_H_
#define SLUICE_AGENT_BPF_SENSOR_H_

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/bpf/file_maps.h"
#include "agent/common/unique_fd.h"
#include "sluice/abi.h"

struct sluice_sensor;  // generated skeleton (sluice/sluice_sensor.skel.h)
struct bpf_link;
struct ring_buffer;
struct bpf_program;
struct bpf_map;

namespace sluice::bpf {

// One attached hook, as reported by `sluiced` at start and later by status/metrics.
struct ProbeStatus {
  std::string probe;  // program name, e.g. "sluice_connect4"
  std::string hook;   // e.g. "tracepoint/syscalls/sys_enter_connect", "cgroup/connect4"
  bool attached = false;
  std::string preferred;       // the hook DESIGN §4 prefers when this one is its fallback
  bool fallback_used = false;  // `hook` stands in for `preferred` on this kernel
  std::string error;           // why the attach failed
};

// The feature probe's decision for one hook family (DESIGN §4 table).
struct FamilyChoice {
  std::string family;  // e.g. "file open"
  std::string hook;    // its preferred hook, e.g. "lsm/file_open"
  bool preferred = false;  // the preferred programs are loaded (else the fallbacks)
  std::string reason;      // why not, when not
};

// Ring reservation failures and full-map updates, summed over CPUs, indexed by event type.
struct LossCounters {
  std::array<uint64_t, SLUICE_EV_TYPE_MAX> ring_full{};
  std::array<uint64_t, SLUICE_EV_TYPE_MAX> map_full{};
};

// While alive, libbpf's messages are kept (the last lines) instead of printed: a load error
// carries its verifier log, and the TLS attacher drops the complaints about processes that
// exited before their uprobes were attached. One at a time (libbpf's printer is process-wide).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
  std::string Tail();
};

class Sensor {
 public:
  // Called from Poll() for every ring record, both rings merged in timestamp order.
  using RecordHandler = std::function<void(absl::Span<const uint8_t>)>;

  // Opens and loads the programs. On a verifier rejection the status carries the tail of the
  // verifier log. Nothing is attached yet.
  // `pin_dir` empty: nothing is pinned. `allow_preferred` false loads every family's fallback
  // (`sluiced --hooks fallback`), as on a kernel without fentry/fexit, BPF-LSM or tp_btf.
  static absl::StatusOr<std::unique_ptr<Sensor>> Load(const std::string& pin_dir = "",
                                                      bool allow_preferred = true);
  enum class PinState { kOff, kFresh, kAdopted, kReplaced };
  PinState pin_state() const { return pin_state_; }
  const std::string& pin_dir() const { return pin_dir_; }
  // Why the pinned objects could not be adopted (kReplaced).
  const std::string& pin_note() const { return pin_note_; }
  // At destruction: leave the pins (the policy stays in force) instead of releasing them.
  void set_keep_pinned(bool keep) { keep_pinned_ = keep; }
  ~Sensor();
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  // Attaches the tracepoints and the cgroup connect hooks at `cgroup2_root` (multi-attach links).
  // On error everything attached so far is detached again.
  absl::Status Attach(const std::string& cgroup2_root);

  // Sets up ring consumption; `handler` sees every record.
  absl::Status StartRings(RecordHandler handler);
  // Waits up to `timeout_ms` for a wakeup, then drains every ring (records submitted without a
  // wakeup are only seen by an explicit consume). Returns records handled, or an error.
  absl::StatusOr<int> Poll(int timeout_ms);

  LossCounters ReadLoss() const;
  const std::vector<ProbeStatus>& probes() const { return probes_; }
  const std::vector<FamilyChoice>& families() const { return families_; }

  // Map fds for the enforce stage (agent/bpf/policy_maps.h).
  int selector_cfg_fd() const;
  int cgroup_match_fd() const;
  int exe_match_fd() const;
  int task_match_fd() const;
  int workload_cfg_fd() const;
  int egress_allow_fd() const;
  int flows_fd() const;
  int severed_fd() const;
  int exempt_fd() const;
  int file_io_fd() const;
  int open_files_fd() const;
  int fd_holders_fd() const;
  int fd_holder_drops_fd() const;
  int flow_slot_reap_fd() const;
  // The hashes of calls in flight that the reaper sweeps (Reaper).
  std::vector<int> inflight_fds() const;
  // sensitive_prefix, sensitive_inode and sensitive_dir (file_maps.h).
  FileClassMaps file_class_maps() const;
  int sensor_cfg_fd() const;
  // A loaded program by name (TLS uprobes are attached per process by their owner), or null.
  bpf_program* program(const char* name) const;

 private:
  Sensor() = default;
  absl::Status AttachOne(const char* prog_name, const std::string& hook, int cgroup_fd,
                         const std::string& preferred);
  // The pinned maps of an earlier agent, when every map of this object has a pinned twin of the
  // same layout; NotFound/FailedPrecondition with the first difference otherwise.
  absl::StatusOr<std::vector<std::pair<bpf_map*, UniqueFd>>> PinnedTwins();
  absl::Status PinMaps();
  // After Attach: pins of the earlier agent that this one did not take over go.
  void DropStalePins(const std::vector<std::string>& links);
  static constexpr int kRingCount = 4;
  void DetachAll();

  struct SkelDeleter {
    void operator()(::sluice_sensor* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  std::unique_ptr<::sluice_sensor, SkelDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::unique_ptr<ring_buffer, RingDeleter> rings_[kRingCount];
  std::vector<FamilyChoice> families_;  // one per family, in the order of kFamilies
  RecordHandler handler_;
  // The records of one Poll(), copied out of the rings and merged by time before dispatch: one
  // arena of bytes reused from poll to poll (a heap block per record cost ~30 % of the agent's
  // time at ~300k records/s) and, per record, its time and place in the arena.
  struct RecordBatch {
    struct Ref {
      uint64_t ts;
      size_t offset;
      size_t size;
    };
    std::vector<uint8_t> bytes;
    std::vector<Ref> refs;
  };
  RecordBatch batch_;
  // ring_buffer__new's callback: copies one record into batch_ (its ctx).
  static int RingCallback(void* ctx, void* data, size_t size);
  std::vector<ProbeStatus> probes_;
  std::string pin_dir_;
  UniqueFd pin_lock_;
  PinState pin_state_ = PinState::kOff;
  std::string pin_note_;
  bool owns_pins_ = false;  // the pins are this agent's (else an earlier agent's policy)
  bool keep_pinned_ = false;
  std::vector<std::string> pinned_links_;
};

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_SENSOR_H_
