// The per-host secret that keys the fingerprints of sensitive values (HMAC-SHA256): the same
// CRM record id or token gives the same fingerprint in every alert of this host, and nobody
// without the key can test a guess against a fingerprint.
#ifndef SLUICE_AGENT_COMMON_HOST_KEY_H_
#define SLUICE_AGENT_COMMON_HOST_KEY_H_

#include <string>

#include "absl/status/statusor.h"

namespace sluice {

inline constexpr size_t kHostKeyBytes = 32;

// Reads DIR/fingerprint.key, creating it (32 random bytes, mode 0600, written to a temporary
// file then renamed, so a crash never leaves a short key) when it does not exist. DIR is
// created (0700) if missing. Fails on a key file of the wrong size or with group/other access.
absl::StatusOr<std::string> LoadOrCreateHostKey(const std::string& dir);

// 32 random bytes, for a run without a state directory (fingerprints then hold for one run).
absl::StatusOr<std::string> EphemeralHostKey();

}  // namespace sluice

#endif  // SLUICE_AGENT_COMMON_HOST_KEY_H_
