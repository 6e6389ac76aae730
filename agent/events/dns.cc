#include "agent/events/dns.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice::events {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameBytes = 255;  // RFC 1035 2.3.4, wire form
constexpr size_t kMaxLabel = 63;

absl::Status Error(size_t offset, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("dns: offset ", offset, ": ", what));
}

// The message ends before the item does: a cut, not a malformation (OutOfRange, so that the
// answer section can tell the two apart).
absl::Status Cut(size_t offset, absl::string_view what) {
  return absl::OutOfRangeError(absl::StrCat("dns: offset ", offset, ": ", what));
}

uint16_t Be16(absl::Span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>((b[off] << 8) | b[off + 1]);
}

uint32_t Be32(absl::Span<const uint8_t> b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}

// Appends one label in presentation form: lower-case, printable ASCII kept, '.' and '\' and
// everything else escaped as \DDD so a crafted label cannot forge a dot or a control byte.
void AppendLabel(absl::Span<const uint8_t> label, std::string* out) {
  for (uint8_t c : label) {
    if (c >= 'A' && c <= 'Z') {
      out->push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
      out->push_back(static_cast<char>(c));
    } else {
      char buf[5];
      snprintf(buf, sizeof(buf), "\\%03u", c);
      out->append(buf);
    }
  }
}

// Reads a (possibly compressed) name at *pos; advances *pos past it in the record.
absl::Status ReadName(absl::Span<const uint8_t> b, size_t* pos, std::string* name) {
  name->clear();
  size_t p = *pos;
  size_t end_in_record = 0;  // where the record continues after the first pointer
  bool jumped = false;
  int hops = 0;
  size_t wire_len = 0;
  while (true) {
    if (p >= b.size()) return Cut(p, "name runs past the end of the message");
    const uint8_t len = b[p];
    if ((len & 0xc0) == 0xc0) {
      if (p + 1 >= b.size()) return Cut(p, "compression pointer cut short");
      const size_t target = (size_t{len & 0x3fu} << 8) | b[p + 1];
      // Strictly backwards: every jump lowers the position, so no loop is possible.
      if (target >= p) return Error(p, "compression pointer does not point backwards (loop)");
      if (++hops > kDnsMaxPointerHops) return Error(p, "too many compression pointers");
      if (!jumped) end_in_record = p + 2;
      jumped = true;
      p = target;
      continue;
    }
    if ((len & 0xc0) != 0) return Error(p, "reserved label type");
    if (len == 0) {
      if (!jumped) end_in_record = p + 1;
      break;
    }
    if (len > kMaxLabel) return Error(p, "label longer than 63 bytes");
    if (p + 1 + len > b.size()) return Cut(p, "label runs past the end of the message");
    wire_len += 1 + len;
    if (wire_len + 1 > kMaxNameBytes) return Error(p, "name longer than 255 bytes");
    if (!name->empty()) name->push_back('.');
    AppendLabel(b.subspan(p + 1, len), name);
    p += 1 + len;
  }
  *pos = end_in_record;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DnsMessage> ParseDnsMessage(absl::Span<const uint8_t> b) {
  if (b.size() < kHeaderSize) return Error(b.size(), "message shorter than the 12-byte header");
  DnsMessage m;
  m.id = Be16(b, 0);
  const uint16_t flags = Be16(b, 2);
  m.response = (flags & 0x8000) != 0;
  m.rcode = static_cast<uint8_t>(flags & 0xf);
  const uint16_t qdcount = Be16(b, 4);
  const uint16_t ancount = Be16(b, 6);
  size_t pos = kHeaderSize;

  for (uint16_t i = 0; i < qdcount; ++i) {
    if (i == kDnsMaxQuestions) return Error(pos, "more than 16 questions");
    std::string qname;
    if (absl::Status s = ReadName(b, &pos, &qname); !s.ok()) {
      return absl::InvalidArgumentError(s.message());  // a cut question is not usable
    }
    if (pos + 4 > b.size()) return Error(pos, "question cut short");
    pos += 4;  // QTYPE, QCLASS
    m.questions.push_back(std::move(qname));
  }

  for (uint16_t i = 0; i < ancount && m.answers.size() < kDnsMaxAnswers; ++i) {
    // A cut inside the answers (the sensor's bounded copy) keeps what was complete before it.
    DnsAnswer a;
    if (absl::Status s = ReadName(b, &pos, &a.name); !s.ok()) {
      if (absl::IsOutOfRange(s)) {
        m.truncated = true;
        return m;
      }
      return s;
    }
    if (pos + 10 > b.size()) {
      m.truncated = true;
      return m;
    }
    a.type = Be16(b, pos);
    const uint16_t klass = Be16(b, pos + 2);
    a.ttl = Be32(b, pos + 4);
    const uint16_t rdlength = Be16(b, pos + 8);
    pos += 10;
    if (pos + rdlength > b.size()) {
      m.truncated = true;
      return m;
    }
    const size_t rdata = pos;
    pos += rdlength;
    if (klass != 1) continue;  // IN only
    if (a.type == kDnsTypeA) {
      if (rdlength != 4) return Error(rdata, "A record with RDLENGTH other than 4");
      a.addr[10] = a.addr[11] = 0xff;
      for (int k = 0; k < 4; ++k) a.addr[12 + k] = b[rdata + k];
    } else if (a.type == kDnsTypeAaaa) {
      if (rdlength != 16) return Error(rdata, "AAAA record with RDLENGTH other than 16");
      for (int k = 0; k < 16; ++k) a.addr[k] = b[rdata + k];
    } else if (a.type == kDnsTypeCname) {
      // The target must lie inside RDATA (pointers may still point back into the message).
      size_t p = rdata;
      if (absl::Status s = ReadName(b.first(rdata + rdlength), &p, &a.cname); !s.ok()) {
        return Error(rdata, absl::StrCat("bad CNAME target (", s.message(), ")"));
      }
    } else {
      continue;  // other types are skipped
    }
    m.answers.push_back(std::move(a));
  }
  return m;
}

}  // namespace sluice::events
