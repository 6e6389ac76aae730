// Bounds-checked big-endian reads over a payload prefix, shared by the binary-protocol
// classifiers (TLS, Kafka, AMQP). A read past the end returns zero / empty and turns ok() false
// for good, so a parser can read a run of fields and check once: no read ever leaves `data`.
#ifndef SLUICE_AGENT_DETECT_CLASSIFY_BYTE_READER_H_
#define SLUICE_AGENT_DETECT_CLASSIFY_BYTE_READER_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace sluice::detect::classify {

class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : data_(data) {}

  // No read has gone past the end.
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool empty() const { return remaining() == 0; }

  uint8_t U8() { return static_cast<uint8_t>(Be(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Be(2)); }
  uint32_t U24() { return static_cast<uint32_t>(Be(3)); }
  uint32_t U32() { return static_cast<uint32_t>(Be(4)); }
  uint64_t U64() { return Be(8); }
  int16_t I16() { return static_cast<int16_t>(U16()); }
  int32_t I32() { return static_cast<int32_t>(U32()); }

  // The next `n` bytes; empty (and !ok()) when fewer remain. A zero-length read of a valid
  // position is an empty view that is still ok().
  absl::string_view Bytes(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    const absl::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  void Skip(size_t n) { Bytes(n); }

  // What is left, without consuming it.
  absl::string_view Rest() const { return ok_ ? data_.substr(pos_) : absl::string_view(); }

 private:
  uint64_t Be(size_t n) {
    const absl::string_view b = Bytes(n);
    uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
    return v;
  }

  absl::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sluice::detect::classify

#endif  // SLUICE_AGENT_DETECT_CLASSIFY_BYTE_READER_H_
