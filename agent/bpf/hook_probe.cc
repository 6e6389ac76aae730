#include "agent/bpf/hook_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/bpf/mounts.h"
#include "agent/common/unique_fd.h"

namespace sluice::bpf {
namespace {

constexpr const char* kLsmList = "/sys/kernel/security/lsm";

}  // namespace

bool LsmListHasBpf(absl::string_view lsm_list) {
  for (absl::string_view name : absl::StrSplit(lsm_list, ',')) {
    if (absl::StripAsciiWhitespace(name) == "bpf") return true;
  }
  return false;
}

std::string ReadActiveLsms() {
  // The list lives only in securityfs. A failure to mount it leaves "" (LSM hooks are then not
  // used, and the probe says why).
  (void)EnsureSecurityfs();
  std::ifstream in(kLsmList);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

std::string HookName(HookKind kind, absl::string_view target) {
  switch (kind) {
    case HookKind::kTpBtf: return absl::StrCat("tp_btf/", target);
    case HookKind::kFentry: return absl::StrCat("fentry/", target);
    case HookKind::kFexit: return absl::StrCat("fexit/", target);
    case HookKind::kLsm: return absl::StrCat("lsm/", target);
  }
  return std::string(target);
}

HookSupport ProbeHook(HookKind kind, const std::string& target, absl::string_view lsm_list) {
  bpf_prog_type type = BPF_PROG_TYPE_TRACING;
  bpf_attach_type attach = BPF_TRACE_RAW_TP;
  switch (kind) {
    case HookKind::kTpBtf: break;
    case HookKind::kFentry: attach = BPF_TRACE_FENTRY; break;
    case HookKind::kFexit: attach = BPF_TRACE_FEXIT; break;
    case HookKind::kLsm:
      type = BPF_PROG_TYPE_LSM;
      attach = BPF_LSM_MAC;
      if (lsm_list.empty()) return {false, "active LSM list unreadable (securityfs)"};
      if (!LsmListHasBpf(lsm_list)) {
        return {false, absl::StrCat("BPF LSM not active (lsm=", lsm_list, ")")};
      }
      break;
  }
  // libbpf adds the kind's prefix (btf_trace_, bpf_lsm_) when it looks the target up.
  const int btf_id = libbpf_find_vmlinux_btf_id(target.c_str(), attach);
  if (btf_id < 0) return {false, absl::StrCat(target, " not in the kernel's BTF")};
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach,
              .attach_btf_id = static_cast<__u32>(btf_id));
  UniqueFd prog(bpf_prog_load(type, "sluice_probe", "GPL", insns, 2, &opts));
  if (!prog.valid()) return {false, absl::StrCat("load: ", strerror(errno))};
  UniqueFd link(bpf_link_create(prog.get(), 0, attach, nullptr));
  if (!link.valid()) return {false, absl::StrCat("attach: ", strerror(errno))};
  return {true, ""};
}

}  // namespace sluice::bpf
