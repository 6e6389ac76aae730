#include "agent/bpf/mounts.h"

#include "gtest/gtest.h"

namespace sluice::bpf {
namespace {

TEST(MissingCapabilities, RootHasEverything) { EXPECT_EQ(MissingCapabilities(~0ULL), ""); }

TEST(MissingCapabilities, NoneNamesAllNeeded) {
  EXPECT_EQ(MissingCapabilities(0), "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN");
}

TEST(MissingCapabilities, SysAdminCoversBpfAndPerfmon) {
  EXPECT_EQ(MissingCapabilities(1ULL << 21), "CAP_NET_ADMIN");
}

TEST(MissingCapabilities, SplitCapabilitiesSuffice) {
  EXPECT_EQ(MissingCapabilities((1ULL << 39) | (1ULL << 38) | (1ULL << 12)), "");
  EXPECT_EQ(MissingCapabilities((1ULL << 39) | (1ULL << 12)), "CAP_PERFMON");
}

}  // namespace
}  // namespace sluice::bpf
