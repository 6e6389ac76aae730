// Sensor events as JSON objects: what `sluicectl events --follow` and `sluiced --events` print
// for debugging and what the control API streams. Classifications, counts and identities only:
// DNS and TLS payload bytes never appear here.
#ifndef SLUICE_AGENT_OUTPUT_EVENT_JSON_H_
#define SLUICE_AGENT_OUTPUT_EVENT_JSON_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/events/decode.h"
#include "nlohmann/json.hpp"

namespace sluice::output {

std::string IpText(const std::array<uint8_t, 16>& addr);
std::string FlowKindName(uint32_t kind);

nlohmann::json ExecJson(const events::ExecEvent& e);
nlohmann::json ForkJson(const events::ForkEvent& e);
nlohmann::json ExitJson(const events::ExitEvent& e);
nlohmann::json ConnectJson(const events::ConnectEvent& e);
// `names`: what the destination was resolved from (DNS cache), most recent first.
nlohmann::json FlowJson(uint64_t cookie, uint32_t kind, const events::Flow& flow,
                        const std::vector<std::string>& names);
nlohmann::json FileOpenJson(const events::FileOpenEvent& e, const std::string& class_name);
// Final read totals of one (process, file).
nlohmann::json FileTotalsJson(uint32_t pid, uint32_t dev, uint64_t ino, const std::string& path,
                              const std::string& class_name, uint64_t bytes_read,
                              uint64_t bytes_mapped, uint64_t calls);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_EVENT_JSON_H_
