#include "agent/bpf/reaper.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <signal.h>

#include <utility>
#include <vector>

#include "agent/bpf/map_keys.h"

namespace sluice::bpf {

bool Reaper::ProcessAlive(uint32_t pid) {
  // kill(pid, 0): ESRCH means gone; EPERM means it exists but is not ours (never the case for
  // root, kept for completeness).
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

Reaper::Reaper(int flows_fd, int file_io_fd, int open_files_fd, int fd_holders_fd,
               int fd_holder_drops_fd, int flow_slot_reap_fd, std::vector<int> inflight_fds,
               AliveFn alive)
    : flows_fd_(flows_fd),
      file_io_fd_(file_io_fd),
      open_files_fd_(open_files_fd),
      fd_holders_fd_(fd_holders_fd),
      fd_holder_drops_fd_(fd_holder_drops_fd),
      flow_slot_reap_fd_(flow_slot_reap_fd),
      inflight_fds_(std::move(inflight_fds)),
      alive_(std::move(alive)) {}


ReapStats Reaper::Run(const FlowFn& on_flow, const FileFn& on_file, const DrainFn& drain,
                      const FlowFn& on_live_flow, const FileFn& on_live_file) {
  ReapStats st;
  std::vector<std::pair<uint64_t, sluice_flow>> flows;
  std::vector<std::pair<uint64_t, sluice_flow>> live_flows;
  for (uint64_t cookie : MapKeys<uint64_t>(flows_fd_)) {
    sluice_flow raw{};
    if (bpf_map_lookup_elem(flows_fd_, &cookie, &raw) != 0) continue;
    if (!(raw.flags & SLUICE_FLOW_F_CLOSED)) {
      ++st.flows_live;
      if (on_live_flow) live_flows.emplace_back(cookie, raw);
      continue;
    }
    flows.emplace_back(cookie, raw);
  }
  std::vector<std::pair<sluice_file_io_key, sluice_file_io>> files;
  std::vector<std::pair<sluice_file_io_key, sluice_file_io>> live_files;
  for (const sluice_file_io_key& key : MapKeys<sluice_file_io_key>(file_io_fd_)) {
    const bool alive = alive_(key.tgid);
    if (alive) ++st.files_live;
    if (alive && !on_live_file) continue;
    sluice_file_io io{};
    if (bpf_map_lookup_elem(file_io_fd_, &key, &io) != 0) continue;
    (alive ? live_files : files).emplace_back(key, io);
  }
  // Everything found final above was final before this drain: its records are handled first.
  if (drain) drain();
  for (const auto& [cookie, raw] : flows) {
    on_flow(cookie, events::DecodeFlow(raw));
    // Only a delete that found the entry counts (the kernel may have deleted it meanwhile).
    if (bpf_map_delete_elem(flows_fd_, &cookie) == 0) {
      CountDrop(flow_slot_reap_fd_, SLUICE_FLOW_SLOT(cookie));
    }
    ++st.flows_reaped;
  }
  for (const auto& [key, io] : files) {
    on_file(key, io);
    bpf_map_delete_elem(file_io_fd_, &key);
    ++st.files_reaped;
  }
  for (const auto& [cookie, raw] : live_flows) on_live_flow(cookie, events::DecodeFlow(raw));
  for (const auto& [key, io] : live_files) on_live_file(key, io);
  // A process that exits closes its fds without close(2): drop what the kernel cannot.
  st.open_fds_dropped += DropExited<sluice_fd_key>(
      open_files_fd_, [](const sluice_fd_key& k) { return k.tgid; }, [](const sluice_fd_key&) {});
  st.fd_holders_dropped += DropExited<uint32_t>(
      fd_holders_fd_, [](uint32_t tgid) { return tgid; },
      [this](uint32_t tgid) { CountDrop(fd_holder_drops_fd_, SLUICE_HOLDER_SLOT(tgid)); });
  // The thread id is the key's low half; a live thread's entry is a call under way.
  for (int fd : inflight_fds_) {
    st.inflight_swept += DropExited<uint64_t>(
        fd, [](uint64_t id) { return static_cast<uint32_t>(id); }, [](uint64_t) {});
  }
  return st;
}

template <typename K, typename TgidOf, typename Dropped>
size_t Reaper::DropExited(int fd, TgidOf tgid_of, Dropped dropped) {
  size_t n = 0;
  for (const K& key : MapKeys<K>(fd)) {
    // Only a delete that found the entry counts: the gate's slots must stay even.
    if (!alive_(tgid_of(key)) && bpf_map_delete_elem(fd, &key) == 0) {
      dropped(key);
      ++n;
    }
  }
  return n;
}

void Reaper::CountDrop(int fd, uint32_t slot) {
  // The agent is the only writer of its half of a gate (fd_holder_drops, flow_slot_reap; the
  // kernel writes the other), so a read and a write need no atomics. Should the write fail, the
  // slot stays open: the probes then look up that slot's entries as before the gate, never miss
  // one.
  uint32_t removed = 0;
  if (bpf_map_lookup_elem(fd, &slot, &removed) != 0) return;
  ++removed;
  bpf_map_update_elem(fd, &slot, &removed, BPF_ANY);
}

}  // namespace sluice::bpf
