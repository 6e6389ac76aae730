// Conversion between the engine's inputs (engine::Input) and their recorded form
// (sluice.v1.Event, proto/sluice/v1/event.proto; the file format is docs/recording.md).
//
// A recording is untrusted input: it may be corrupt, cut short, written by another version, or
// crafted. FromProto therefore accepts only what the live path can produce, within bounds that
// are generous enough for a recording made by a sensor with larger kernel-side limits: every
// address is exactly 16 bytes, every enum value is one the ABI defines, every narrow integer fits
// its C++ field, every text field and list is bounded. Whatever it returns is as safe for the
// engine as an input decoded from the kernel.
#ifndef SLUICE_AGENT_REPLAY_EVENT_CODEC_H_
#define SLUICE_AGENT_REPLAY_EVENT_CODEC_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "agent/engine/inputs.h"
#include "agent/events/dns.h"
#include "sluice/abi.h"
#include "sluice/v1/event.pb.h"

namespace sluice::replay {

// Bounds FromProto enforces. The kernel keeps less (SLUICE_PATH_MAX, SLUICE_ARGS_MAX, ...); the
// bounds are those of the OS or of the agent's own parsers so that a recording by a build with
// other kernel-side limits still replays.
inline constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX: exec filename, file and cgroup paths,
                                               // snapshot exe, HTTP path
inline constexpr size_t kMaxCommBytes = SLUICE_COMM_LEN;
// A process found in /proc: its comm is read from /proc/PID/comm, which shows longer names than
// the kernel's 16-byte task name for some tasks (kernel workqueue workers since 6.x).
inline constexpr size_t kMaxProcCommBytes = 64;
// An exec event can carry one (empty) argument per byte of its argv area.
inline constexpr size_t kMaxArgs = 128;
inline constexpr size_t kMaxArgBytes = 4096;
inline constexpr size_t kMaxCmdlineBytes = 4096;
// DNS names in presentation form (a 255-byte wire name with every byte escaped as \DDD stays
// under this), CNAME targets, HTTP Host, TLS SNI.
inline constexpr size_t kMaxNameBytes = 1024;
// Short identifiers: TLS protocol name, HTTP method, operation, data kind.
inline constexpr size_t kMaxLabelBytes = 64;
inline constexpr size_t kMaxDataKinds = 64;     // DataMatch entries of one TLS observation
inline constexpr size_t kMaxFingerprints = 16;  // per DataMatch
inline constexpr size_t kMaxFingerprintBytes = 128;
inline constexpr size_t kMaxDnsQuestions = events::kDnsMaxQuestions;
inline constexpr size_t kMaxDnsAnswers = events::kDnsMaxAnswers;

static_assert(kMaxPathBytes >= SLUICE_PATH_MAX);
static_assert(kMaxArgs >= SLUICE_ARGS_MAX);

// Never fails: every value of every input has a recorded form. The event type in the input's
// header is not stored (the Event's kind says it), so an input whose hdr.type does not match its
// alternative comes back from FromProto with the type of its alternative.
sluice::v1::Event ToProto(const engine::Input& input);
// Same, into `out` (cleared first), so that a writer can reuse one message.
void ToProto(const engine::Input& input, sluice::v1::Event* out);

// Validates and converts. Errors are InvalidArgument and name the field, e.g.
// "connect.daddr: 4 bytes, expected 16" or "exec.argv[3]: 5000 bytes, at most 4096".
// An Event with no kind set (empty, or a kind added by a newer sluice) is an error.
absl::StatusOr<engine::Input> FromProto(const sluice::v1::Event& event);

}  // namespace sluice::replay

#endif  // SLUICE_AGENT_REPLAY_EVENT_CODEC_H_
