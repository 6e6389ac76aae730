// Test driver: appends each non-empty line of stdin (an OCSF alert) to the evidence log in DIR,
// as the agent would, and prints the record count. Exit 1 when opening or an append fails.
//
//   sluice_test_evidence_append DIR < alerts.jsonl
#include <cstdio>
#include <iostream>
#include <string>

#include "agent/output/evidence_log.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR < alerts.jsonl\n", argv[0]);
    return 2;
  }
  auto log = sluice::output::EvidenceLog::Open(argv[1]);
  if (!log.ok()) {
    fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (absl::Status s = (*log)->Append(line); !s.ok()) {
      fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (absl::Status s = (*log)->Sync(); !s.ok()) {
    fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  printf("%llu\n", static_cast<unsigned long long>((*log)->records()));
  return 0;
}
