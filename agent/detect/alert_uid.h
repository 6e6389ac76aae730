// Unique ids for findings (Alert::uid): a sink that retries a delivery resends the same uid, so
// a SIEM can drop the duplicate.
#ifndef SLUICE_AGENT_DETECT_ALERT_UID_H_
#define SLUICE_AGENT_DETECT_ALERT_UID_H_

#include <string>

namespace sluice::detect {

// 122 random bits formatted as a lowercase UUIDv4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
// Thread-safe.
std::string NewAlertUid();

}  // namespace sluice::detect

#endif  // SLUICE_AGENT_DETECT_ALERT_UID_H_
