#include "agent/output/event_json.h"

#include "agent/detect/ip.h"

namespace sluice::output {
namespace {

nlohmann::json Header(const events::EventHeader& h, const char* type) {
  return {{"type", type}, {"ts_ns", h.ts_ns}, {"pid", h.pid}, {"tid", h.tid},
          {"cgroup_id", h.cgroup_id}};
}

std::string ProtocolName(uint8_t p) {
  switch (p) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    default:
      return std::to_string(p);
  }
}

}  // namespace

std::string IpText(const std::array<uint8_t, 16>& addr) {
  detect::IpAddr ip;
  ip.bytes = addr;
  return ip.ToString();
}

std::string FlowKindName(uint32_t kind) {
  switch (kind) {
    case SLUICE_FLOW_CONNECTED:
      return "connected";
    case SLUICE_FLOW_ACCEPTED:
      return "accepted";
    case SLUICE_FLOW_UDP:
      return "udp";
    case SLUICE_FLOW_CLOSED:
      return "closed";
    default:
      return "unknown";
  }
}

nlohmann::json ExecJson(const events::ExecEvent& e) {
  nlohmann::json j = Header(e.hdr, "exec");
  j["ppid"] = e.ppid;
  j["uid"] = e.uid;
  j["exe"] = {{"path", e.filename}, {"dev", e.exe_dev}, {"ino", e.exe_ino}};
  j["comm"] = e.comm;
  j["argv"] = e.argv;
  j["argv_truncated"] = e.argv_truncated;
  if (e.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = e.workload_id;
  return j;
}

nlohmann::json ForkJson(const events::ForkEvent& e) {
  nlohmann::json j = Header(e.hdr, "fork");
  j["child_pid"] = e.child_pid;
  if (e.flags & SLUICE_FORK_F_MAYBE_THREAD) j["maybe_thread"] = true;
  return j;
}

nlohmann::json ExitJson(const events::ExitEvent& e) {
  nlohmann::json j = Header(e.hdr, "exit");
  j["exit_code"] = e.exit_code;
  return j;
}

nlohmann::json ConnectJson(const events::ConnectEvent& e) {
  nlohmann::json j = Header(e.hdr, "connect");
  j["daddr"] = IpText(e.daddr);
  j["dport"] = e.dport;
  j["protocol"] = ProtocolName(e.protocol);
  j["verdict"] = e.verdict;
  if (e.flags & SLUICE_CONNECT_F_HAS_RESULT) j["ret"] = e.ret;
  if (e.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = e.workload_id;
  return j;
}

nlohmann::json FlowJson(uint64_t cookie, uint32_t kind, const events::Flow& f,
                        const std::vector<std::string>& names) {
  nlohmann::json j = {{"type", "flow"},
                      {"kind", FlowKindName(kind)},
                      {"cookie", cookie},
                      {"pid", f.pid},
                      {"cgroup_id", f.cgroup_id},
                      {"protocol", ProtocolName(f.protocol)},
                      {"direction", (f.flags & SLUICE_FLOW_F_INBOUND) ? "inbound" : "outbound"},
                      {"saddr", IpText(f.saddr)},
                      {"sport", f.sport},
                      {"daddr", IpText(f.daddr)},
                      {"dport", f.dport},
                      {"bytes_out", f.bytes_out},
                      {"bytes_in", f.bytes_in},
                      {"start_ns", f.start_ns},
                      {"closed", (f.flags & SLUICE_FLOW_F_CLOSED) != 0},
                      {"names", names}};
  if (f.end_ns) j["end_ns"] = f.end_ns;
  if (f.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = f.workload_id;
  return j;
}

nlohmann::json FileOpenJson(const events::FileOpenEvent& e, const std::string& class_name) {
  nlohmann::json j = Header(e.hdr, "file_open");
  j["path"] = e.path;
  j["dev"] = e.dev;
  j["ino"] = e.ino;
  j["fd"] = e.fd;
  j["flags"] = e.open_flags;
  j["class"] = class_name;
  j["matched_by"] = e.matched_by == SLUICE_FILE_MATCH_INODE      ? "inode"
                    : e.matched_by == SLUICE_FILE_MATCH_IO_URING ? "io_uring"
                                                                  : "path";
  if (e.workload_id != SLUICE_NO_WORKLOAD) j["workload_id"] = e.workload_id;
  return j;
}

nlohmann::json FileTotalsJson(uint32_t pid, uint32_t dev, uint64_t ino, const std::string& path,
                              const std::string& class_name, uint64_t bytes_read,
                              uint64_t bytes_mapped, uint64_t calls) {
  return {{"type", "file_read"}, {"pid", pid},           {"dev", dev},
          {"ino", ino},          {"path", path},         {"class", class_name},
          {"bytes_read", bytes_read}, {"bytes_mapped", bytes_mapped}, {"calls", calls}};
}

}  // namespace sluice::output
