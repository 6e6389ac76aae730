// Where sluice keeps its kernel objects across agent restarts (DESIGN §6): a directory on bpffs
// holding the attached links (DIR/links/<program>) and the maps (DIR/maps/<map>). A pinned link
// stays attached when the agent dies, so a SIGKILLed agent leaves its policy in force; a
// restarted agent adopts them (agent/bpf/sensor.h); `sluicectl disarm` with no agent running
// releases them (ReleasePinned).
//
// One agent per directory: the directory itself is flock(2)ed while an agent (or a release) uses
// it. The lock goes with the process, so a killed agent never leaves it taken.
#ifndef SLUICE_AGENT_BPF_PINS_H_
#define SLUICE_AGENT_BPF_PINS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/common/unique_fd.h"

namespace sluice::bpf {

inline constexpr char kDefaultPinDir[] = "/sys/fs/bpf/sluice";

// Creates DIR (and its links/ and maps/ subdirectories, mode 0700) when missing and takes the
// lock. FailedPrecondition when another process holds it.
absl::StatusOr<UniqueFd> LockPinDir(const std::string& dir);

// The names pinned under DIR/links or DIR/maps (empty when the directory is missing).
std::vector<std::string> PinnedNames(const std::string& dir, const char* kind);
std::string PinPath(const std::string& dir, const char* kind, const std::string& name);

// Removes every pin under DIR and the directories. Objects this process still holds by fd live
// on (and are released when it closes them); links nobody holds are detached.
void RemovePins(const std::string& dir);

struct ReleaseReport {
  std::vector<std::string> links;  // detached
  std::vector<std::string> maps;   // unpinned
};
// With no agent running (the lock is taken here): detaches every pinned link, so nothing of the
// policy stays in force, and removes the pins. NotFound when DIR does not exist.
absl::StatusOr<ReleaseReport> ReleasePinned(const std::string& dir);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_PINS_H_
