// Sends alert lines (one JSON object per line on stdin) through the HTTPS sink transport the way
// the agent's delivery thread does: in batches, each sent again after a transient failure, a
// refused one given up on. The integration test (tests/integration/http_sink_test.py) drives it
// against a test collector.
//
// Prints "SENT <n>" when every line was delivered (exit 0), else "ERROR <code> <message>" (exit 1;
// 2 when the options are refused).
#include <cstdio>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/output/http_transport.h"

namespace {

void PrintError(const absl::Status& status) {
  printf("ERROR %s %s\n", absl::StatusCodeToString(status.code()).c_str(),
         std::string(status.message()).c_str());
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Send JSON lines from stdin to an HTTPS alert collector"};
  std::string kind;
  sluice::output::HttpOptions options;
  std::vector<std::string> headers;
  int timeout_ms = 10000;
  int batch = 100;
  int retry_ms = 0;
  app.add_option("--kind", kind, "hec or webhook")
      ->required()
      ->check(CLI::IsMember({"hec", "webhook"}));
  app.add_option("--url", options.url, "collector URL")->required();
  app.add_option("--token", options.token, "HEC token");
  app.add_option("--header", headers, "extra header, NAME:VALUE (repeatable)");
  app.add_option("--ca", options.ca_file, "CA bundle (PEM)");
  app.add_option("--cert", options.cert_file, "client certificate (PEM)");
  app.add_option("--key", options.key_file, "client key (PEM)");
  app.add_option("--host", options.host, "HEC event host");
  app.add_option("--index", options.index, "HEC index");
  app.add_option("--timeout-ms", timeout_ms, "per-request timeout");
  app.add_option("--batch", batch, "lines per request")->check(CLI::Range(1, 100000));
  app.add_option("--retry-ms", retry_ms,
                 "retry transient failures until this many ms after start (0 = no retry)");
  CLI11_PARSE(app, argc, argv);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(retry_ms);

  options.kind = kind == "hec" ? sluice::output::HttpOptions::Kind::kSplunkHec
                               : sluice::output::HttpOptions::Kind::kWebhook;
  options.timeout = absl::Milliseconds(timeout_ms);
  for (const std::string& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos) {
      PrintError(absl::InvalidArgumentError(absl::StrCat("--header ", h, ": expected NAME:VALUE")));
      return 2;
    }
    options.headers.emplace_back(h.substr(0, colon),
                                 std::string(absl::StripAsciiWhitespace(h.substr(colon + 1))));
  }
  auto transport = sluice::output::MakeHttpTransport(std::move(options));
  if (!transport.ok()) {
    PrintError(transport.status());
    return 2;
  }
  fprintf(stderr, "sending to %s\n", (*transport)->Describe().c_str());

  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) {
    if (!absl::StripAsciiWhitespace(line).empty()) lines.push_back(std::move(line));
  }

  size_t sent = 0;
  absl::Duration backoff = absl::Milliseconds(50);
  while (sent < lines.size()) {
    const size_t n = std::min(lines.size() - sent, static_cast<size_t>(batch));
    const absl::Status status =
        (*transport)->Send(absl::MakeConstSpan(lines).subspan(sent, n));
    if (status.ok()) {
      sent += n;
      backoff = absl::Milliseconds(50);
      continue;
    }
    // A refused batch is final, as for the agent; anything else waits and goes again whole.
    if (status.code() == absl::StatusCode::kInvalidArgument || absl::Now() + backoff > deadline) {
      fprintf(stderr, "%zu of %zu lines delivered before the error\n", sent, lines.size());
      PrintError(status);
      return 1;
    }
    fprintf(stderr, "retrying in %s: %s\n", absl::FormatDuration(backoff).c_str(),
            std::string(status.message()).c_str());
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  printf("SENT %zu\n", sent);
  return 0;
}
