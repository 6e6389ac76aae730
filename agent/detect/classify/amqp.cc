#include "agent/detect/classify/amqp.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/detect/classify/byte_reader.h"
#include "agent/detect/classify/limits.h"

namespace sluice::detect::classify {
namespace {

constexpr size_t kFrameHeaderBytes = 7;  // type, channel, size
constexpr uint8_t kFrameEnd = 0xCE;
constexpr uint16_t kClassConnection = 10;
constexpr uint16_t kClassBasic = 60;
// Content header payload: class-id, weight, body size, property flags.
constexpr uint32_t kMinContentHeaderBytes = 2 + 2 + 8 + 2;

struct ProtocolHeader {
  std::array<uint8_t, 4> id_and_version;  // the four bytes after "AMQP"
  const char* version;
};
constexpr std::array<ProtocolHeader, 7> kProtocolHeaders = {{
    {{0, 0, 9, 1}, "0-9-1"},
    {{1, 1, 0, 9}, "0-9"},
    {{1, 1, 8, 0}, "0-8"},
    {{1, 1, 0, 10}, "0-10"},
    {{0, 1, 0, 0}, "1.0"},  // AMQP 1.0, plain
    {{2, 1, 0, 0}, "1.0"},  // AMQP 1.0, TLS negotiation
    {{3, 1, 0, 0}, "1.0"},  // AMQP 1.0, SASL layer
}};

struct Method {
  uint16_t class_id;
  uint16_t method_id;
  const char* name;
};
// AMQP 0-9-1 (amqp0-9-1.xml) plus RabbitMQ's extensions, which its clients send as well.
constexpr Method kMethods[] = {
    {10, 10, "connection.start"},
    {10, 11, "connection.start-ok"},
    {10, 20, "connection.secure"},
    {10, 21, "connection.secure-ok"},
    {10, 30, "connection.tune"},
    {10, 31, "connection.tune-ok"},
    {10, 40, "connection.open"},
    {10, 41, "connection.open-ok"},
    {10, 50, "connection.close"},
    {10, 51, "connection.close-ok"},
    {10, 60, "connection.blocked"},
    {10, 61, "connection.unblocked"},
    {10, 70, "connection.update-secret"},
    {10, 71, "connection.update-secret-ok"},
    {20, 10, "channel.open"},
    {20, 11, "channel.open-ok"},
    {20, 20, "channel.flow"},
    {20, 21, "channel.flow-ok"},
    {20, 40, "channel.close"},
    {20, 41, "channel.close-ok"},
    {30, 10, "access.request"},
    {30, 11, "access.request-ok"},
    {40, 10, "exchange.declare"},
    {40, 11, "exchange.declare-ok"},
    {40, 20, "exchange.delete"},
    {40, 21, "exchange.delete-ok"},
    {40, 30, "exchange.bind"},
    {40, 31, "exchange.bind-ok"},
    {40, 40, "exchange.unbind"},
    {40, 51, "exchange.unbind-ok"},
    {50, 10, "queue.declare"},
    {50, 11, "queue.declare-ok"},
    {50, 20, "queue.bind"},
    {50, 21, "queue.bind-ok"},
    {50, 30, "queue.purge"},
    {50, 31, "queue.purge-ok"},
    {50, 40, "queue.delete"},
    {50, 41, "queue.delete-ok"},
    {50, 50, "queue.unbind"},
    {50, 51, "queue.unbind-ok"},
    {60, 10, "basic.qos"},
    {60, 11, "basic.qos-ok"},
    {60, 20, "basic.consume"},
    {60, 21, "basic.consume-ok"},
    {60, 30, "basic.cancel"},
    {60, 31, "basic.cancel-ok"},
    {60, 40, "basic.publish"},
    {60, 50, "basic.return"},
    {60, 60, "basic.deliver"},
    {60, 70, "basic.get"},
    {60, 71, "basic.get-ok"},
    {60, 72, "basic.get-empty"},
    {60, 80, "basic.ack"},
    {60, 90, "basic.reject"},
    {60, 100, "basic.recover-async"},
    {60, 110, "basic.recover"},
    {60, 111, "basic.recover-ok"},
    {60, 120, "basic.nack"},
    {85, 10, "confirm.select"},
    {85, 11, "confirm.select-ok"},
    {90, 10, "tx.select"},
    {90, 11, "tx.select-ok"},
    {90, 20, "tx.commit"},
    {90, 21, "tx.commit-ok"},
    {90, 30, "tx.rollback"},
    {90, 31, "tx.rollback-ok"},
};

absl::Status NotAmqp(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("amqp: ", why));
}

// Why a frame cannot be AMQP 0-9-1, or nullptr. `frame` starts at the frame header; it may end
// anywhere after it (`f` holds the decoded header). Sets `*cut` when the prefix ends before the
// frame can be judged.
const char* CheckFrame(absl::string_view frame, AmqpFrame* f, bool* cut) {
  *cut = false;
  switch (f->type) {
    case AmqpFrame::kMethod:
    case AmqpFrame::kHeader:
    case AmqpFrame::kBody:
    case AmqpFrame::kHeartbeat:
      break;
    default:
      return "frame type";
  }
  if (f->size > kMaxAmqpFrameBytes) return "frame size";
  if (f->type == AmqpFrame::kHeartbeat && (f->channel != 0 || f->size != 0)) return "heartbeat";
  // Content travels on a channel; channel 0 is the connection's own.
  if ((f->type == AmqpFrame::kHeader || f->type == AmqpFrame::kBody) && f->channel == 0) {
    return "content on channel 0";
  }
  ByteReader payload(frame.substr(kFrameHeaderBytes, f->size));
  if (f->type == AmqpFrame::kMethod) {
    if (f->size < 4) return "method frame size";
    f->class_id = payload.U16();
    f->method_id = payload.U16();
    if (!payload.ok()) {
      *cut = true;
      return nullptr;
    }
    if (AmqpMethodName(f->class_id, f->method_id) == nullptr) return "unknown method";
    // Connection methods belong on channel 0 and every other class on a channel of its own.
    if ((f->class_id == kClassConnection) != (f->channel == 0)) return "method channel";
  } else if (f->type == AmqpFrame::kHeader) {
    if (f->size < kMinContentHeaderBytes) return "content header size";
    f->class_id = payload.U16();
    const uint16_t weight = payload.U16();
    if (!payload.ok()) {
      *cut = true;
      return nullptr;
    }
    // Only class basic has content, and the weight field is always 0.
    if (f->class_id != kClassBasic || weight != 0) return "content header";
  }
  const size_t end = kFrameHeaderBytes + static_cast<size_t>(f->size);
  if (frame.size() > end) {
    if (static_cast<uint8_t>(frame[end]) != kFrameEnd) return "frame end";
    f->complete = true;
  }
  return nullptr;
}

// Walks 0-9-1 frames from `data`. With `first_decides`, the first frame must be AMQP on its own
// or the whole prefix is rejected; later frames only stop the walk when they are not.
absl::Status WalkFrames(absl::string_view data, bool first_decides, AmqpInfo* out) {
  size_t pos = 0;
  while (pos < data.size() && out->frames.size() < kMaxAmqpFrames) {
    const absl::string_view frame = data.substr(pos);
    const bool deciding = first_decides && out->frames.empty();
    if (frame.size() < kFrameHeaderBytes) {
      if (deciding) return NotAmqp("too short to tell");
      out->truncated = true;
      return absl::OkStatus();
    }
    ByteReader r(frame);
    AmqpFrame f;
    f.type = r.U8();
    f.channel = r.U16();
    f.size = r.U32();
    bool cut = false;
    if (const char* why = CheckFrame(frame, &f, &cut)) {
      if (deciding) return NotAmqp(why);
      return absl::OkStatus();  // not a frame: the walk ends, what came before stands
    }
    if (cut) {
      if (deciding) return NotAmqp("too short to tell");
      out->truncated = true;
      return absl::OkStatus();
    }
    if (!f.complete) {
      // A body or a heartbeat has nothing else to check than its frame end.
      if (deciding && (f.type == AmqpFrame::kBody || f.type == AmqpFrame::kHeartbeat)) {
        return NotAmqp("frame end not in the prefix");
      }
      out->truncated = true;
      out->frames.push_back(f);
      return absl::OkStatus();
    }
    out->frames.push_back(f);
    pos += kFrameHeaderBytes + static_cast<size_t>(f.size) + 1;
  }
  return absl::OkStatus();
}

}  // namespace

const char* AmqpMethodName(uint16_t class_id, uint16_t method_id) {
  for (const Method& m : kMethods) {
    if (m.class_id == class_id && m.method_id == method_id) return m.name;
  }
  return nullptr;
}

const char* AmqpFrame::MethodName() const {
  return type == kMethod ? AmqpMethodName(class_id, method_id) : nullptr;
}

std::string AmqpInfo::Operation() const {
  for (const AmqpFrame& f : frames) {
    if (const char* name = f.MethodName()) return name;
  }
  if (protocol_header) return "protocol-header";
  if (frames.empty()) return "";
  return frames[0].type == AmqpFrame::kHeartbeat ? "heartbeat" : "content";
}

absl::StatusOr<AmqpInfo> ParseAmqp(absl::Span<const uint8_t> prefix) {
  const absl::string_view data(reinterpret_cast<const char*>(prefix.data()),
                               std::min(prefix.size(), kMaxClassifyBytes));
  AmqpInfo out;
  if (data.empty()) return NotAmqp("empty");
  if (!absl::StartsWith(data, "AMQP")) {
    absl::Status s = WalkFrames(data, /*first_decides=*/true, &out);
    if (!s.ok()) return s;
    return out;
  }
  const absl::string_view id = data.substr(4, 4);
  const ProtocolHeader* header = nullptr;
  for (const ProtocolHeader& h : kProtocolHeaders) {
    if (std::equal(id.begin(), id.end(), h.id_and_version.begin(),
                   [](char a, uint8_t b) { return static_cast<uint8_t>(a) == b; })) {
      header = &h;
      break;
    }
  }
  if (header == nullptr) return NotAmqp("unknown protocol header");
  out.protocol_header = true;
  if (id.size() < 4) {
    out.truncated = true;
    return out;
  }
  out.version = header->version;
  // Frames after the header are 0-9-1 frames only when that is the version announced.
  if (out.version == "0-9-1") {
    absl::Status s = WalkFrames(data.substr(8), /*first_decides=*/false, &out);
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace sluice::detect::classify
