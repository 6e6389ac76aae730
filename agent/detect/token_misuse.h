// token_misuse (DESIGN §5): a CRM bearer token or API key in the plaintext of a TLS write that
// either goes to a host that is not the CRM, or was first used by another workload (a stolen
// service-account token replayed from a different process). MITRE ATT&CK T1552 (unsecured
// credentials) and T1550.001 (application access token).
#ifndef SLUICE_AGENT_DETECT_TOKEN_MISUSE_H_
#define SLUICE_AGENT_DETECT_TOKEN_MISUSE_H_

#include <optional>
#include <string>

#include "agent/detect/payload_egress.h"

namespace sluice::detect {

// Who used a token (by fingerprint) first.
struct TokenOwner {
  std::string workload;
  std::string exe;
  uint32_t pid = 0;
};

class TokenMisuseDetector {
 public:
  static const DetectorSpec& Spec();
  // `first_owner`: the first user of one of the write's token fingerprints when that is another
  // workload or executable than the writer; nullopt otherwise.
  std::optional<Alert> Evaluate(const RuleSet& rules, const PayloadWrite& write,
                                const std::optional<TokenOwner>& first_owner) const;
};

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_TOKEN_MISUSE_H_
