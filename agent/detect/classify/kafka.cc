#include "agent/detect/classify/kafka.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/byte_reader.h"
#include "agent/detect/classify/limits.h"

namespace sluice::detect::classify {
namespace {

// Indexed by api_key (kafka.apache.org/protocol#protocol_api_keys).
// clang-format off
constexpr std::array<const char*, 76> kApiNames = {
    "Produce",                    // 0
    "Fetch",                      // 1
    "ListOffsets",                // 2
    "Metadata",                   // 3
    "LeaderAndIsr",               // 4
    "StopReplica",                // 5
    "UpdateMetadata",             // 6
    "ControlledShutdown",         // 7
    "OffsetCommit",               // 8
    "OffsetFetch",                // 9
    "FindCoordinator",            // 10
    "JoinGroup",                  // 11
    "Heartbeat",                  // 12
    "LeaveGroup",                 // 13
    "SyncGroup",                  // 14
    "DescribeGroups",             // 15
    "ListGroups",                 // 16
    "SaslHandshake",              // 17
    "ApiVersions",                // 18
    "CreateTopics",               // 19
    "DeleteTopics",               // 20
    "DeleteRecords",              // 21
    "InitProducerId",             // 22
    "OffsetForLeaderEpoch",       // 23
    "AddPartitionsToTxn",         // 24
    "AddOffsetsToTxn",            // 25
    "EndTxn",                     // 26
    "WriteTxnMarkers",            // 27
    "TxnOffsetCommit",            // 28
    "DescribeAcls",               // 29
    "CreateAcls",                 // 30
    "DeleteAcls",                 // 31
    "DescribeConfigs",            // 32
    "AlterConfigs",               // 33
    "AlterReplicaLogDirs",        // 34
    "DescribeLogDirs",            // 35
    "SaslAuthenticate",           // 36
    "CreatePartitions",           // 37
    "CreateDelegationToken",      // 38
    "RenewDelegationToken",       // 39
    "ExpireDelegationToken",      // 40
    "DescribeDelegationToken",    // 41
    "DeleteGroups",               // 42
    "ElectLeaders",               // 43
    "IncrementalAlterConfigs",    // 44
    "AlterPartitionReassignments",  // 45
    "ListPartitionReassignments",   // 46
    "OffsetDelete",               // 47
    "DescribeClientQuotas",       // 48
    "AlterClientQuotas",          // 49
    "DescribeUserScramCredentials",  // 50
    "AlterUserScramCredentials",  // 51
    "Vote",                       // 52
    "BeginQuorumEpoch",           // 53
    "EndQuorumEpoch",             // 54
    "DescribeQuorum",             // 55
    "AlterPartition",             // 56
    "UpdateFeatures",             // 57
    "Envelope",                   // 58
    "FetchSnapshot",              // 59
    "DescribeCluster",            // 60
    "DescribeProducers",          // 61
    "BrokerRegistration",         // 62
    "BrokerHeartbeat",            // 63
    "UnregisterBroker",           // 64
    "DescribeTransactions",       // 65
    "ListTransactions",           // 66
    "AllocateProducerIds",        // 67
    "ConsumerGroupHeartbeat",     // 68
    "ConsumerGroupDescribe",      // 69
    "ControllerRegistration",     // 70
    "GetTelemetrySubscriptions",  // 71
    "PushTelemetry",              // 72
    "AssignReplicasToDirs",       // 73
    "ListClientMetricsResources",  // 74
    "DescribeTopicPartitions",    // 75
};
// clang-format on

// request_api_key, request_api_version, correlation_id, client_id length: what follows the size.
constexpr uint32_t kMinRequestBytes = 2 + 2 + 4 + 2;

absl::Status NotKafka(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("kafka: not a request: ", why));
}

}  // namespace

const char* KafkaApiName(int16_t api_key) {
  if (api_key < 0 || static_cast<size_t>(api_key) >= kApiNames.size()) return nullptr;
  return kApiNames[static_cast<size_t>(api_key)];
}

std::string KafkaRequest::ApiName() const {
  const char* name = KafkaApiName(api_key);
  return name != nullptr ? std::string(name) : absl::StrCat("ApiKey", api_key);
}

absl::StatusOr<KafkaRequest> ParseKafkaRequest(absl::Span<const uint8_t> prefix) {
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()),
                               std::min(prefix.size(), kMaxClassifyBytes));
  if (data.size() < kKafkaMinPrefixBytes) return NotKafka("too short to tell");
  ByteReader r(data);
  KafkaRequest out;
  out.size = r.U32();
  out.api_key = r.I16();
  out.api_version = r.I16();
  out.correlation_id = r.I32();
  const int16_t client_id_length = r.I16();
  if (out.size < kMinRequestBytes || out.size > kMaxKafkaRequestBytes) return NotKafka("size");
  if (out.api_key < 0 || out.api_key > kMaxKafkaApiKey) return NotKafka("api_key");
  if (out.api_version < 0 || out.api_version > kMaxKafkaApiVersion) {
    return NotKafka("api_version");
  }
  // Clients count correlation ids up from 0 or 1 and wrap back to 0, never below.
  if (out.correlation_id < 0) return NotKafka("correlation_id");
  if (client_id_length == -1) {
    out.client_id_null = true;
    return out;
  }
  // Clients name themselves (client.id defaults to "producer-1", "rdkafka", "sarama", ...) or
  // send null. An empty id is what zero-filled bytes look like, and an HTTP/2 SETTINGS frame,
  // read as a Kafka header, is a Produce request with an empty client id.
  if (client_id_length <= 0 || static_cast<size_t>(client_id_length) > kMaxKafkaClientIdBytes ||
      kMinRequestBytes + static_cast<uint32_t>(client_id_length) > out.size) {
    return NotKafka("client_id length");
  }
  const absl::string_view seen = r.Rest().substr(0, static_cast<size_t>(client_id_length));
  // What is in the prefix must be printable even when cut: a cut name is not kept, but bytes
  // that no client id holds still say this is not Kafka.
  if (!std::all_of(seen.begin(), seen.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return NotKafka("client_id bytes");
  }
  if (seen.size() < static_cast<size_t>(client_id_length)) {
    out.truncated = true;
  } else {
    out.client_id = std::string(seen);
  }
  return out;
}

}  // namespace sluice::detect::classify
