// Opens the delivery side of the agent from its configuration: the sinks of `--config`, the
// spool and the evidence log in `--state-dir`, around the --alerts output. Shared by sluiced and
// the delivery test driver, so what the tests exercise is what the agent runs.
#ifndef SLUICE_AGENT_OUTPUT_DELIVERY_SETUP_H_
#define SLUICE_AGENT_OUTPUT_DELIVERY_SETUP_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/output/delivery.h"
#include "agent/output/evidence_log.h"
#include "agent/output/spool.h"

namespace sluice::output {

// The pipeline built from `options` points into `spool` and `evidence`: keep this alive longer.
struct Delivery {
  AlertPipeline::Options options;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<EvidenceLog> evidence;
  uint64_t spool_max_bytes = 0;
};

// `config_path` "" = no configuration file (only `primary`); `state_dir` "" = no spool and no
// evidence log (then network sinks are refused). InvalidArgument for a bad configuration (its
// errors, with locations, are printed to stderr first); other errors for a spool or evidence log
// that cannot be opened.
absl::StatusOr<Delivery> OpenDelivery(const std::string& config_path, const std::string& state_dir,
                                      ProductInfo product, std::unique_ptr<AlertSink> primary);

}  // namespace sluice::output

#endif  // SLUICE_AGENT_OUTPUT_DELIVERY_SETUP_H_
