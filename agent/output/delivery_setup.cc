#include "agent/output/delivery_setup.h"

#include <algorithm>
#include <cstdio>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/output/sink_config.h"

namespace sluice::output {

absl::StatusOr<Delivery> OpenDelivery(const std::string& config_path,
                                      const std::string& state_dir, ProductInfo product,
                                      std::unique_ptr<AlertSink> primary) {
  Delivery d;
  d.options.product = product;
  d.options.primary = std::move(primary);
  AgentConfig config;
  if (!config_path.empty()) {
    ConfigResult loaded = LoadAgentConfig(config_path);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) fprintf(stderr, "%s\n", e.c_str());
      return absl::InvalidArgumentError(absl::StrCat(loaded.errors.size(), " error(s) in ",
                                                     config_path, ", nothing started"));
    }
    config = std::move(loaded.config);
  }
  if (config.has_network_sinks() && state_dir.empty()) {
    return absl::InvalidArgumentError(
        "network sinks deliver from a disk spool: give --state-dir (it holds the spool, so a "
        "sink that is down loses nothing)");
  }
  std::vector<std::string> consumers;
  for (auto& s : config.sinks) {
    if (auto* f = std::get_if<FileSinkConfig>(&s.options)) {
      auto file = RotatingFile::Open(f->path, f->rotate);
      if (!file.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(s.where, ": sink ", s.name, ": ", file.status().message()));
      }
      d.options.files.push_back({s.name, *std::move(file)});
      continue;
    }
    std::unique_ptr<Transport> transport;
    if (auto* so = std::get_if<SyslogOptions>(&s.options)) {
      auto t = MakeSyslogTransport(*so);
      if (!t.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(s.where, ": sink ", s.name, ": ", t.status().message()));
      }
      transport = *std::move(t);
    } else if (auto* ho = std::get_if<HttpOptions>(&s.options)) {
      auto t = MakeHttpTransport(*ho);
      if (!t.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(s.where, ": sink ", s.name, ": ", t.status().message()));
      }
      transport = *std::move(t);
    }
    consumers.push_back(s.name);
    d.options.network.push_back({s.name, s.type, std::move(transport)});
  }
  if (!consumers.empty()) {
    SpoolOptions so;
    so.dir = state_dir + "/spool";
    so.sinks = consumers;
    so.max_bytes = config.spool_max_bytes;
    d.spool_max_bytes = so.max_bytes;
    so.segment_bytes = std::min<uint64_t>(so.segment_bytes, std::max<uint64_t>(so.max_bytes / 8, 4096));
    auto spool = Spool::Open(so);
    if (!spool.ok()) return spool.status();
    d.spool = *std::move(spool);
    const auto st = d.spool->stats();
    if (st.corrupt_records > 0) {
      fprintf(stderr, "sluiced: spool: %llu damaged record(s) (%llu bytes) dropped at start\n",
              static_cast<unsigned long long>(st.corrupt_records),
              static_cast<unsigned long long>(st.corrupt_bytes));
    }
    for (const auto& [name, ss] : st.sinks) {
      if (ss.pending > 0) {
        fprintf(stderr, "sluiced: sink %s: %llu alert(s) from before the restart to deliver\n",
                name.c_str(), static_cast<unsigned long long>(ss.pending));
      }
    }
    d.options.spool = d.spool.get();
  }
  if (!state_dir.empty()) {
    auto evidence = EvidenceLog::Open(state_dir);
    if (!evidence.ok()) {
      return absl::Status(evidence.status().code(),
                          absl::StrCat("evidence log: ", evidence.status().message(),
                                       " (check it with `sluicectl verify --state-dir ",
                                       state_dir, "`; move it aside to start a new chain)"));
    }
    d.evidence = *std::move(evidence);
    EvidenceLog* log = d.evidence.get();
    d.options.evidence = [log](absl::string_view line) { return log->Append(line); };
    d.options.evidence_sync = [log] { return log->Sync(); };
  }
  return d;
}

}  // namespace sluice::output
