// The agent's configuration file (`sluiced --config FILE`, YAML): where alerts go beyond
// --alerts, and the delivery spool's bound (DESIGN §7). Validated whole before anything starts;
// every error carries file:line:col, like the rules.
//
//   sinks:
//     - name: siem                 # [a-z0-9_.-]+, unique; names the spool consumer and metrics
//       type: syslog               # syslog | splunk_hec | webhook | file
//       host: 10.0.0.5
//       port: 6514
//       tls: true                  # default true
//       ca: /etc/sluice/siem-ca.pem
//       cert: /etc/sluice/client.pem   # optional client certificate (with key)
//       key: /etc/sluice/client.key
//       server_name: siem.corp.example
//     - name: splunk
//       type: splunk_hec
//       url: https://splunk.corp.example:8088/services/collector/event
//       token_file: /etc/sluice/hec.token   # or token: "..." (the file keeps it out of the config)
//       ca: /etc/sluice/splunk-ca.pem
//       index: security
//     - name: hook
//       type: webhook
//       url: https://hooks.corp.example/sluice
//       headers: {Authorization: "Bearer ..."}
//     - name: archive
//       type: file
//       path: /var/log/sluice/alerts.jsonl
//       max_bytes: 100MiB
//       max_age: 1d
//       keep: 10
//   spool:
//     max_bytes: 256MiB
#ifndef SLUICE_AGENT_OUTPUT_SINK_CONFIG_H_
#define SLUICE_AGENT_OUTPUT_SINK_CONFIG_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "agent/output/delivery.h"
#include "agent/output/http_transport.h"
#include "agent/output/syslog_transport.h"

namespace sluice::output {

struct FileSinkConfig {
  std::string path;
  RotateOptions rotate;
};

struct SinkConfig {
  std::string name;
  std::string type;  // "syslog", "splunk_hec", "webhook", "file"
  std::variant<SyslogOptions, HttpOptions, FileSinkConfig> options;
  std::string where;  // file:line:col of the sink's map
};

struct AgentConfig {
  std::vector<SinkConfig> sinks;
  uint64_t spool_max_bytes = 256ull << 20;
  bool has_network_sinks() const;
};

struct ConfigResult {
  AgentConfig config;
  std::vector<std::string> errors;  // "file:line:col: message"; empty = valid
  bool ok() const { return errors.empty(); }
};

ConfigResult LoadAgentConfig(const std::string& path);
ConfigResult ParseAgentConfig(const std::string& yaml_text, const std::string& file_name);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_SINK_CONFIG_H_
