#include "agent/events/dns.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice::events {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameBytes = 255;  // RFC 1035 2.3.4, wire form with the root label
constexpr size_t kMaxLabel = 63;
constexpr size_t kFixedRecordBytes = 10;  // TYPE, CLASS, TTL, RDLENGTH
constexpr uint16_t kClassIn = 1;

// A malformed message: rejected.
absl::Status Error(size_t offset, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("dns: offset ", offset, ": ", what));
}

// The message ends before the item does: a cut, not a malformation. OutOfRange so that the
// answer section can tell the two apart; it never leaves this file.
absl::Status Cut(size_t offset, absl::string_view what) {
  return absl::OutOfRangeError(absl::StrCat("dns: offset ", offset, ": ", what));
}

// Callers check the bounds first.
uint16_t Be16(absl::Span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>((b[off] << 8) | b[off + 1]);
}

uint32_t Be32(absl::Span<const uint8_t> b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         b[off + 3];
}

// Appends one label in presentation form: upper case folded, printable ASCII kept, everything
// else escaped as \DDD, and so are '.', '\' and space, so that a crafted label can neither forge
// a label boundary nor smuggle a control byte into a log line or an alert.
void AppendLabel(absl::Span<const uint8_t> label, std::string* out) {
  for (uint8_t c : label) {
    if (c >= 'A' && c <= 'Z') {
      out->push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
      out->push_back(static_cast<char>(c));
    } else {
      const char esc[4] = {'\\', static_cast<char>('0' + c / 100),
                           static_cast<char>('0' + c / 10 % 10), static_cast<char>('0' + c % 10)};
      out->append(esc, sizeof(esc));
    }
  }
}

// Reads a possibly compressed name at *pos and, on success, moves *pos past it in the record
// (past the first pointer when there is one).
//
// Loop freedom: a pointer must point before the start of the segment being read (first the name
// itself, then the previous pointer's target). Segment starts strictly decrease and reading
// within a segment only moves forward from its start, so no byte is ever read twice. Legitimate
// compression always points at an earlier name, so it satisfies this.
absl::Status ReadName(absl::Span<const uint8_t> b, size_t* pos, std::string* name) {
  name->clear();
  size_t p = *pos;
  size_t segment_start = p;
  size_t resume = 0;  // where the record continues, once known
  bool jumped = false;
  int hops = 0;
  size_t wire_len = 1;  // the root label
  while (true) {
    if (p >= b.size()) return Cut(p, "name runs past the end of the message");
    const uint8_t len = b[p];
    if ((len & 0xc0) == 0xc0) {
      if (p + 1 >= b.size()) return Cut(p, "compression pointer cut short");
      const size_t target = (size_t{len & 0x3fu} << 8) | b[p + 1];
      if (target > p) return Error(p, "forward compression pointer");
      if (target >= segment_start) return Error(p, "compression pointer loop");
      if (++hops > kDnsMaxPointerHops) return Error(p, "too many compression pointers");
      if (!jumped) resume = p + 2;
      jumped = true;
      p = segment_start = target;
      continue;
    }
    if ((len & 0xc0) != 0) {
      // 0x40 and 0x80 are the obsolete extended and the reserved label types (RFC 6891 5);
      // read as a length, any such byte exceeds 63.
      return Error(p, absl::StrCat("label longer than 63 bytes (length byte ", len, ")"));
    }
    if (len == 0) {
      if (!jumped) resume = p + 1;
      break;
    }
    static_assert(kMaxLabel == 0x3f, "a length byte below 0x40 is always a legal label length");
    wire_len += 1 + len;
    if (wire_len > kMaxNameBytes) return Error(p, "name longer than 255 bytes");
    if (len >= b.size() - p) return Cut(p, "label runs past the end of the message");
    if (!name->empty()) name->push_back('.');
    AppendLabel(b.subspan(p + 1, len), name);
    p += 1 + len;
  }
  *pos = resume;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DnsMessage> ParseDnsMessage(absl::Span<const uint8_t> b) {
  if (b.size() < kHeaderSize) return Error(b.size(), "message shorter than the 12-byte header");
  DnsMessage m;
  m.id = Be16(b, 0);
  const uint16_t flags = Be16(b, 2);
  m.response = (flags & 0x8000) != 0;
  m.opcode = static_cast<uint8_t>((flags >> 11) & 0xf);
  m.rcode = static_cast<uint8_t>(flags & 0xf);
  const uint16_t qdcount = Be16(b, 4);
  const uint16_t ancount = Be16(b, 6);
  if (qdcount > kDnsMaxQuestions) {
    return Error(4, absl::StrCat("QDCOUNT ", qdcount, " above the limit of ", kDnsMaxQuestions));
  }
  size_t pos = kHeaderSize;

  // Questions must be complete: without them the answers cannot be located or checked.
  m.questions.reserve(qdcount);
  for (uint16_t i = 0; i < qdcount; ++i) {
    std::string qname;
    if (absl::Status s = ReadName(b, &pos, &qname); !s.ok()) {
      return absl::InvalidArgumentError(s.message());
    }
    if (b.size() - pos < 4) return Error(pos, "question cut short");
    pos += 4;  // QTYPE, QCLASS
    m.questions.push_back(std::move(qname));
  }

  // A cut inside the answer section (the sensor's bounded copy) keeps the records completed
  // before it; a record is only appended once all of it was read and checked.
  for (size_t i = 0; i < ancount && i < kDnsMaxAnswers; ++i) {
    const size_t record = pos;
    DnsAnswer a;
    if (absl::Status s = ReadName(b, &pos, &a.name); !s.ok()) {
      if (!absl::IsOutOfRange(s)) return s;
      m.truncated = true;
      return m;
    }
    if (b.size() - pos < kFixedRecordBytes) {
      m.truncated = true;
      return m;
    }
    a.type = Be16(b, pos);
    const uint16_t klass = Be16(b, pos + 2);
    a.ttl = Be32(b, pos + 4);
    const uint16_t rdlength = Be16(b, pos + 8);
    pos += kFixedRecordBytes;
    if (b.size() - pos < rdlength) {
      m.truncated = true;
      return m;
    }
    const size_t rdata = pos;
    pos += rdlength;
    if (klass != kClassIn) continue;
    if (a.type == kDnsTypeA) {
      if (rdlength != 4) {
        return Error(
            rdata, absl::StrCat("A record with RDLENGTH ", rdlength, " (record at ", record, ")"));
      }
      a.addr[10] = a.addr[11] = 0xff;
      for (size_t k = 0; k < 4; ++k) a.addr[12 + k] = b[rdata + k];
    } else if (a.type == kDnsTypeAaaa) {
      if (rdlength != 16) {
        return Error(rdata, absl::StrCat("AAAA record with RDLENGTH ", rdlength, " (record at ",
                                         record, ")"));
      }
      for (size_t k = 0; k < 16; ++k) a.addr[k] = b[rdata + k];
    } else if (a.type == kDnsTypeCname) {
      // The target is read from RDATA alone (its pointers may still lead back into the message,
      // always backwards), and must fill RDATA exactly.
      size_t p = rdata;
      absl::Status s = ReadName(b.first(rdata + rdlength), &p, &a.cname);
      if (absl::IsOutOfRange(s)) return Error(rdata, "CNAME target runs past its RDATA");
      if (!s.ok()) return absl::InvalidArgumentError(s.message());
      if (p != pos) return Error(p, "CNAME RDATA longer than its target name");
    } else {
      continue;  // other types are not used by sluice
    }
    m.answers.push_back(std::move(a));
  }
  return m;
}

}  // namespace sluice::events
