// Walking the keys of a BPF map from user space.
#ifndef SLUICE_AGENT_BPF_MAP_KEYS_H_
#define SLUICE_AGENT_BPF_MAP_KEYS_H_

#include <bpf/bpf.h>

#include <vector>

namespace sluice::bpf {

// Every key of the map, collected before the caller changes any: deleting the current key
// during a get_next_key walk restarts the walk from the first key.
template <typename K>
std::vector<K> MapKeys(int fd) {
  std::vector<K> keys;
  K key{};
  K next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_MAP_KEYS_H_
