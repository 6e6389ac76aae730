#!/usr/bin/env python3
"""Writes the regression corpus of the fuzz targets: tests/fuzz/corpus/dns (DNS messages for
ParseDnsMessage), tests/fuzz/corpus/decode (ring records for events::Decode) and
tests/fuzz/corpus/classify (payload prefixes for the classifiers in agent/detect/classify).

The file name says what the replay tests (agent/events/dns_corpus_test.cc,
agent/detect/classify/classify_corpus_test.cc) expect:
  ok-*   must parse (DNS: completely, `truncated` false) / must decode;
         classify: ok-<protocol>-* must classify as <protocol> (ProtocolName, e.g. "kafka");
  cut-*  DNS only: must parse with `truncated` true (a message cut by the sensor's 512-byte copy);
  bad-*  must be rejected (classify: "unknown");
  any other name (inputs a fuzzing run found, e.g. libFuzzer's crash-<sha1>) must only be handled
  without a crash. Classify files whose name contains "-pii" must hold a sensitive value.
Every input is synthetic (made-up names, documentation addresses); no captured traffic.

Reproducible: the files this script owns (ok-/cut-/bad-) are removed and written again; other
files are left alone. Run it after changing it and commit the result:
  python3 tests/fuzz/make_corpus.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OWNED_PREFIXES = ("ok-", "cut-", "bad-")

A, CNAME, TXT, MX, AAAA = 1, 5, 16, 15, 28
IN, CH = 1, 3
RESPONSE = 0x8180  # QR, RD, RA, NOERROR
QUERY = 0x0100     # RD


# ---- DNS ---------------------------------------------------------------------------------------

def name(*labels):
    out = b""
    for label in labels:
        raw = label if isinstance(label, bytes) else label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def ptr(offset):
    return struct.pack(">H", 0xC000 | offset)


def header(qd, an, flags=RESPONSE, ident=0x1234, ns=0, ar=0):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def question(qname, qtype=A):
    return qname + struct.pack(">HH", qtype, IN)


def rr(owner, rtype, ttl, rdata, klass=IN, rdlength=None):
    length = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack(">HHIH", rtype, klass, ttl, length) + rdata


def v6(last):
    return bytes([0x20, 0x01, 0x0D, 0xB8]) + bytes(11) + bytes([last])


def chain_message():
    """Question acme.my.salesforce.com, CNAME na1.salesforce.com, A 10.1.2.3, AAAA 2001:db8::7,
    every later name compressed. Returns (message, offset where the answers start)."""
    msg = header(1, 3) + question(name("acme", "my", "salesforce", "com"))
    answers_at = len(msg)
    target = answers_at + 12  # the CNAME's RDATA, after its owner pointer and fixed fields
    msg += rr(ptr(12), CNAME, 300, b"\x03na1" + ptr(12 + 8))  # 12 + 8: "salesforce.com"
    msg += rr(ptr(target), A, 60, bytes([10, 1, 2, 3]))
    msg += rr(ptr(target), AAAA, 60, v6(7))
    return msg, answers_at


def big_response():
    """A response longer than the sensor's 512-byte copy: 40 A records for one name."""
    msg = header(1, 40) + question(name("pool", "cdn", "example"))
    for i in range(40):
        msg += rr(ptr(12), A, 30, bytes([192, 0, 2, i]))
    return msg


def pointer_chain(n):
    """Question "a"; a skipped record whose RDATA holds n pointers (the first to the question's
    name, each later one to the one before); an A record whose owner points at the last, so
    reading it follows n + 1 pointers."""
    msg = header(1, 2) + question(name("a"))
    msg += ptr(12) + struct.pack(">HHIH", 99, IN, 1, 2 * n)
    chain = len(msg)
    msg += ptr(12) + b"".join(ptr(chain + 2 * (i - 1)) for i in range(1, n))
    return msg + rr(ptr(chain + 2 * (n - 1)), A, 1, bytes([192, 0, 2, 1]))


def dns_cases():
    chain, answers_at = chain_message()
    q = question(name("www", "example", "test"))

    yield "ok-cname-chain", chain
    yield "ok-a", header(1, 1) + q + rr(ptr(12), A, 0, bytes([192, 0, 2, 1]))
    yield "ok-aaaa", header(1, 1) + question(name("v6", "example"), AAAA) + rr(
        ptr(12), AAAA, 3600, v6(1))
    yield "ok-long-chain", header(1, 4) + question(name("login", "crm", "test")) + rr(
        ptr(12), CNAME, 60, name("edge", "crm", "test")) + rr(
        name("edge", "crm", "test"), CNAME, 60, name("lb", "crm", "test")) + rr(
        name("lb", "crm", "test"), CNAME, 60, name("n7", "lb", "crm", "test")) + rr(
        name("n7", "lb", "crm", "test"), A, 60, bytes([198, 51, 100, 7]))
    yield "ok-cname-cycle", header(1, 3) + q + rr(ptr(12), CNAME, 60, name("b", "test")) + rr(
        name("b", "test"), CNAME, 60, name("www", "example", "test")) + rr(
        ptr(12), A, 60, bytes([192, 0, 2, 9]))
    yield "ok-query", header(1, 0, flags=QUERY) + q
    yield "ok-nxdomain", header(1, 0, flags=0x8183) + q
    yield "ok-header-only", header(0, 0)
    yield "ok-escaped-labels", header(1, 1) + question(name(b"A.\x07 \\\xffz", "CoM")) + rr(
        ptr(12), A, 5, bytes([192, 0, 2, 2]))
    yield "ok-other-types", header(1, 4) + q + rr(ptr(12), TXT, 1, b"\x02hi") + rr(
        ptr(12), MX, 1, b"\x00\x0a" + ptr(12)) + rr(
        ptr(12), A, 1, bytes([192, 0, 2, 3]), klass=CH) + rr(ptr(12), A, 1, bytes([192, 0, 2, 4]))
    yield "ok-many-answers", header(0, 200) + b"".join(
        rr(name("x"), A, 1, bytes([192, 0, 2, i % 256])) for i in range(200))
    yield "ok-16-hops", pointer_chain(15)
    yield "ok-label-63", header(1, 0) + question(name("a" * 63, "test"))
    yield "ok-name-255", header(1, 0) + question(name("x" * 63, "x" * 63, "x" * 63, "x" * 61))
    yield "ok-16-questions", header(16, 0) + question(name("q")) * 16
    yield "ok-authority-ignored", header(1, 1, ns=1) + q + rr(ptr(12), A, 1, bytes(
        [192, 0, 2, 5])) + b"\xff\xff\xff"  # garbage where the authority section would be

    # Cut by a bounded copy: inside an owner pointer, the fixed fields, RDATA, a CNAME target,
    # and right at a record boundary.
    for cut in (answers_at, answers_at + 1, answers_at + 5, answers_at + 13, answers_at + 17,
                answers_at + 18, answers_at + 30, len(chain) - 1):
        yield "cut-chain-%d" % cut, chain[:cut]
    yield "cut-512", big_response()[:512]

    yield "bad-empty", b""
    yield "bad-short-header", b"\x12\x34\x81"
    yield "bad-self-pointer", header(1, 0) + ptr(12) + struct.pack(">HH", A, IN)
    yield "bad-forward-pointer", header(1, 0) + ptr(64) + struct.pack(">HH", A, IN) + bytes(60)
    yield "bad-pointer-into-name", header(1, 0) + b"\x01a" + ptr(12) + struct.pack(">HH", A, IN)
    yield "bad-pointer-loop", header(1, 2) + question(name("q")) + name() + struct.pack(
        ">HHIH", 99, IN, 1, 2) + ptr(32) + rr(ptr(30), A, 1, bytes(4))
    yield "bad-17-hops", pointer_chain(16)
    yield "bad-label-64", header(1, 0) + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", A, IN)
    yield "bad-reserved-label", header(1, 0) + b"\x80" + struct.pack(">HH", A, IN)
    yield "bad-name-256", header(1, 0) + question(name("x" * 63, "x" * 63, "x" * 63, "x" * 62))
    yield "bad-rdlength-a", header(0, 1) + rr(name("x"), A, 1, bytes(5))
    yield "bad-rdlength-aaaa", header(0, 1) + rr(name("x"), AAAA, 1, bytes(4))
    yield "bad-cname-padded", header(0, 1) + rr(name("x"), CNAME, 1, name("y") + b"\0")
    yield "bad-cname-overrun", header(0, 1) + rr(name("x"), CNAME, 1, b"\x03yy", rdlength=2)
    yield "bad-17-questions", header(17, 0) + question(name("q")) * 17
    yield "bad-cut-question", header(2, 0) + question(name("one")) + b"\x03tw"


# ---- ring records (bpf/include/sluice/abi.h, layouts checked by agent/events/abi_check.h) -------

EV_EXEC, EV_EXIT, EV_CONNECT, EV_CGROUP, EV_FORK, EV_FLOW, EV_DNS, EV_FILE_OPEN, EV_TLS, \
    EV_PAYLOAD = range(1, 11)
NO_WORKLOAD = 0xFFFFFFFF


def ev_header(etype, size, pid=4242, cgroup=77):
    return struct.pack("<IIQIIQ", etype, size, 1_000_000, pid, pid, cgroup)


def fixed(text, size):
    raw = text if isinstance(text, bytes) else text.encode()
    return raw[:size].ljust(size, b"\0")


def v4mapped(a, b, c, d):
    return bytes(10) + b"\xff\xff" + bytes([a, b, c, d])


def exec_record(args=b"curl\0-s\0https://paste.example/x\0", args_len=None, args_total=None,
                comm="curl", filename="/usr/bin/curl", size=464):
    body = struct.pack("<IIQII", 1, 0, 1234, 0x801, NO_WORKLOAD)
    body += fixed(comm, 16) + fixed(filename, 256)
    body += struct.pack("<II", len(args) if args_len is None else args_len,
                        len(args) if args_total is None else args_total)
    body += fixed(args, 128)
    return ev_header(EV_EXEC, size) + body


def dns_record(payload, length=None, wire_len=None):
    body = struct.pack("<QHHHH", 99, 2, len(payload) if length is None else length,
                       len(payload) if wire_len is None else wire_len, 0)
    body += v4mapped(192, 0, 2, 53) + fixed(payload, 512)
    return ev_header(EV_DNS, 576, pid=0) + body


def tls_record(data, captured=None, size=None):
    cap = len(data) if captured is None else captured
    body = struct.pack("<QiIIBBHII", 5, 3, len(data), cap, 1, 1, 0, NO_WORKLOAD, 0)
    return ev_header(EV_TLS, 64 + len(data) if size is None else size) + body + data


def payload_record(data, length=None, captured=None):
    """sluice_payload_event (ABI v4): 48-byte head, then a fixed 512-byte data array."""
    body = struct.pack("<QII", 21, len(data) if length is None else length,
                       len(data) if captured is None else captured)
    return ev_header(EV_PAYLOAD, 560) + body + fixed(data, 512)


def decode_cases():
    chain, _ = chain_message()
    flow = struct.pack("<QQQQQIIHHHBB", 77, 1, 2, 1500, 300, 4242, 0, 10, 40000, 443, 6, 0x4)
    flow += v4mapped(10, 0, 0, 2) + v4mapped(192, 0, 2, 10)

    yield "ok-exec", exec_record()
    yield "ok-exec-truncated-argv", exec_record(args=b"a" * 128, args_total=4000)
    yield "ok-exec-unterminated", exec_record(args=b"x" * 128, args_len=0xFFFFFFFF,
                                             comm=b"c" * 16, filename=b"f" * 256)
    yield "ok-exit", ev_header(EV_EXIT, 40) + struct.pack("<iI", 1, 0)
    yield "ok-connect", ev_header(EV_CONNECT, 64) + struct.pack(
        "<IiHHBBH", 0, -111, 2, 443, 2, 6, 1) + v4mapped(192, 0, 2, 10)
    yield "ok-cgroup-mkdir", ev_header(EV_CGROUP, 288) + fixed("/sluice-demo", 256)
    yield "ok-fork", ev_header(EV_FORK, 40) + struct.pack("<II", 4243, 2)
    yield "ok-flow", ev_header(EV_FLOW, 136) + struct.pack("<QII", 5, 4, 0) + flow
    yield "ok-dns", dns_record(chain)
    yield "ok-dns-cut", dns_record(big_response()[:512], wire_len=len(big_response()))
    yield "ok-dns-len-lies", dns_record(chain, length=0xFFFF)  # clamped to the payload field
    yield "ok-file-open", ev_header(EV_FILE_OPEN, 320) + struct.pack(
        "<QIiIIII", 1234, 0x801, 5, 0, 1, 0, 1) + fixed("/var/lib/vectors/index.bin", 256)
    yield "ok-tls", tls_record(b"GET / HTTP/1.1\r\nHost: crm.example\r\n\r\n")
    yield "ok-tls-empty", tls_record(b"")
    yield "ok-payload-hello", payload_record(OPENSSL_HELLO[:512], length=len(OPENSSL_HELLO))
    yield "ok-payload-lying", payload_record(b"*1\r\n$4\r\nPING\r\n", captured=0xFFFF)
    yield "ok-padded", ev_header(EV_EXIT, 40) + struct.pack("<iI", 0, 0) + bytes(8)

    yield "bad-short", b"\x01\x00"
    yield "bad-header-only", ev_header(EV_EXEC, 32)
    yield "bad-unknown-type", ev_header(99, 32)
    yield "bad-type-zero", ev_header(0, 32)
    yield "bad-size-too-big", ev_header(EV_EXEC, 0xFFFFFFFF) + bytes(64)
    yield "bad-size-mismatch", ev_header(EV_EXIT, 48) + bytes(16)
    yield "bad-size-short", ev_header(EV_EXEC, 100) + bytes(432)
    yield "bad-tls-lying", tls_record(b"", captured=4000, size=64)
    yield "bad-tls-over-cap", tls_record(b"\0" * 16, captured=5000, size=64 + 5000) + bytes(5000)
    yield "bad-tls-short", ev_header(EV_TLS, 40) + bytes(8)
    yield "bad-payload-v3-size", ev_header(EV_PAYLOAD, 112) + bytes(80)


# ---- payload prefixes (agent/detect/classify) ---------------------------------------------------

# `openssl s_client -servername CRM.Example.com -alpn h2,http/1.1` (OpenSSL 3.0).
OPENSSL_HELLO = bytes.fromhex(
    "160301014e0100014a03036535dac858a61f5105cd41bc538f813c7113591a58debb4f198f42"
    "2003b55b48206f3254d28a06b487f856e10367de37ab59134b857ed6660905dcf24f2ec421f0"
    "003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067"
    "c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000c30000001400120000"
    "0f43524d2e4578616d706c652e636f6d000b000403000102000a00160014001d0017001e0019"
    "001801000101010201030104002300000010000e000c02683208687474702f312e3100160000"
    "00170000000d002a0028040305030603080708080809080a080b080408050806040105010601"
    "030303010302040205020602002b0009080304030303020301002d0002010100330026002400"
    "1d0020ab0fe3342429afd4e92a31703dbfa7db0f13053852216b821f422ea314c6d636")

# `gnutls-cli --sni-hostname=vectors.example.net --alpn=h2 --alpn=http/1.1` (GnuTLS 3.7).
GNUTLS_HELLO = bytes.fromhex(
    "160301019e0100019a03032311f6930c57489ebb723f7c510856c4709895e8bc53737da6f148"
    "0078a5c9af2006d4747d294771ff595d4f2cfcdd69fa870b904088f824b4c1b70aeee0ee14ed"
    "003a1302130313011304c02ccca9c0adc00ac02bc0acc009c030cca8c014c02fc013009dc09d"
    "0035009cc09c002f009fccaac09f0039009ec09e003301000117000500050100000000000a00"
    "160014001700180019001d001e01000101010201030104000b00020100000d00220020040108"
    "090804040308070501080a0805050308080601080b08060603020102030010000e000c026832"
    "08687474702f312e310016000000170000002300000033006b006900170041044ae13d0815e1"
    "dfd393cc55f08d926741176f2cec6e0d379a62f9cfa6d3048915326c76855f5ab9195d4d8f43"
    "af1d4098384e68069b07d88db237f3eab32f48d0001d002053f4f9703261c9eb201210c40619"
    "ba678e7cb6d19d1218bb0bee9a52b68ed360002b0009080304030303020301ff010001000000"
    "00180016000013766563746f72732e6578616d706c652e6e6574002d0003020100001c000240"
    "01")


def hello_message(extensions):
    """A minimal ClientHello handshake message with (type, body) extensions in order."""
    exts = b"".join(struct.pack(">HH", t, len(b)) + b for t, b in extensions)
    body = b"\x03\x03" + b"r" * 32 + b"\x00" + struct.pack(">H", 4) + b"\x13\x01\xc0\x2f"
    body += b"\x01\x00" + struct.pack(">H", len(exts)) + exts
    return b"\x01" + struct.pack(">I", len(body))[1:] + body


def handshake_records(message, fragment=1 << 14):
    return b"".join(b"\x16\x03\x01" + struct.pack(">H", len(message[i:i + fragment])) +
                    message[i:i + fragment] for i in range(0, len(message), fragment))


def sni(host):
    entry = b"\x00" + struct.pack(">H", len(host)) + host
    return struct.pack(">H", len(entry)) + entry


def kafka(api_key, version, correlation, client_id, body=b""):
    header = struct.pack(">hhi", api_key, version, correlation)
    header += struct.pack(">h", -1) if client_id is None else struct.pack(
        ">h", len(client_id)) + client_id
    return struct.pack(">I", len(header) + len(body)) + header + body


def amqp_frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def amqp_method(channel, class_id, method_id, args=b""):
    return amqp_frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def resp(*words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


def classify_cases():
    crm_json = (b'{"records":[{"Id":"0035g00000ABcDeAAL","Email":"ann.lee@example.com",'
                b'"Phone":"(415) 555-0100","AccountId":"001A0000006Vm9r"}]}')
    publish = amqp_method(1, 60, 40, b"\x00\x00\x00\x06orders\x00")
    content_header = struct.pack(">HHQH", 60, 0, len(crm_json), 0x1000) + b"\x02"

    yield "ok-http1-request-get", b"GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
    yield "ok-http1-request-pii-sobjects", (
        b"PATCH /services/data/v59.0/sobjects/Contact/0035g00000ABcDe HTTP/1.1\r\n"
        b"Host: acme.my.salesforce.com\r\n"
        b"Authorization: Bearer 00D5g000004XyZa!AQ4AQFhGpl3kBz0Yv8PqsKw5RtUv.Xy_z\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(crm_json)) + crm_json
    yield "ok-http1-request-pii-api-key", (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: llm.example\r\n"
        b"Authorization: Bearer sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\r\n\r\n")
    yield "ok-http1-response-200", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    yield "ok-http2-preface-settings", (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                        b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    yield "ok-tls-record-openssl-hello", OPENSSL_HELLO
    yield "ok-tls-record-gnutls-hello", GNUTLS_HELLO
    yield "ok-tls-record-hello-cut", GNUTLS_HELLO[:300]
    yield "ok-tls-record-hello-split", handshake_records(
        hello_message([(0x15, bytes(300)), (0, sni(b"split.example")),
                       (16, b"\x00\x03\x02h2")]), 100)
    yield "ok-tls-record-app-data", b"\x17\x03\x03\x00\x08" + bytes(8)
    yield "ok-kafka-produce", kafka(0, 9, 42, b"producer-1", bytes(60))
    yield "ok-kafka-api-versions", kafka(18, 3, 1, b"adminclient-1", b"\x00\x12apache-kafka-java"
                                         b"\x063.7.0\x00")
    yield "ok-kafka-metadata-null-client", kafka(3, 12, 7, None, bytes(10))
    yield "ok-kafka-client-id-cut", kafka(1, 13, 100, b"consumer-orders-7", bytes(50))[:20]
    yield "ok-amqp-header", b"AMQP\x00\x00\x09\x01"
    yield "ok-amqp-1.0-sasl-header", b"AMQP\x03\x01\x00\x00"
    yield "ok-amqp-start-ok", amqp_method(0, 10, 11, struct.pack(">I", 0) + b"\x05PLAIN" +
                                          struct.pack(">I", 13) + b"\x00guest\x00guest1" +
                                          b"\x05en_US")
    yield "ok-amqp-publish-pii", publish + amqp_frame(2, 1, content_header) + amqp_frame(
        3, 1, crm_json)
    yield "ok-amqp-publish-cut", (publish + amqp_frame(2, 1, content_header))[:30]
    yield "ok-amqp-heartbeat", amqp_frame(8, 0, b"")
    yield "ok-redis-set", resp(b"SET", b"session:42", b'{"user":"ann"}')
    yield "ok-redis-auth", resp(b"AUTH", b"default", b"hunter2-Sup3rS3cret")
    yield "ok-redis-pipeline", resp(b"MULTI") + resp(b"INCR", b"n") + resp(b"EXEC")
    yield "ok-redis-hset-pii", resp(b"HSET", b"contact:7", b"email", b"ann@example.com",
                                    b"phone", b"+14155550100")
    yield "ok-redis-inline-ping", b"PING\r\n"
    yield "ok-redis-name-cut", resp(b"PUBLISH", b"ch", b"msg")[:10]

    yield "bad-empty", b""
    yield "bad-text", b"hello world\n"
    yield "bad-json", b'{"op":"set","key":"x"}'
    yield "bad-zeros", bytes(64)
    yield "bad-ff", b"\xff" * 64
    yield "bad-http-no-version", b"GET /\r\n\r\n"
    yield "bad-tls-ssl2", b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"
    yield "bad-kafka-api-key-91", kafka(91, 0, 1, b"app", bytes(8))
    yield "bad-kafka-version-21", kafka(0, 21, 1, b"app", bytes(8))
    yield "bad-kafka-negative-correlation", kafka(0, 9, -5, b"app", bytes(8))
    yield "bad-kafka-client-id-binary", kafka(0, 9, 1, b"a\x01p", bytes(8))
    yield "bad-kafka-client-id-empty", kafka(3, 12, 7, b"", bytes(8))
    yield "bad-http2-server-settings", bytes.fromhex(
        "000012040000000000000300000064000400010000000500004000")
    yield "bad-amqp-frame-end", amqp_method(1, 60, 40, bytes(8))[:-1] + b"\xcd"
    yield "bad-amqp-unknown-method", amqp_method(1, 60, 41, bytes(8))
    yield "bad-amqp-basic-on-channel-0", amqp_method(0, 60, 40, bytes(8))
    yield "bad-amqp-header-version", b"AMQP\x00\x00\x09\x02"
    yield "bad-redis-empty-array", b"*0\r\n"
    yield "bad-redis-inline-mixed-case", b"Get me the report\n"
    yield "bad-redis-name-not-a-word", b"*1\r\n$4\r\n1234\r\n"


def main():
    for kind, cases in (("dns", dns_cases()), ("decode", decode_cases()),
                        ("classify", classify_cases())):
        d = os.path.join(HERE, "corpus", kind)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith(OWNED_PREFIXES):
                os.remove(os.path.join(d, f))
        seen = set()
        for label, data in cases:
            assert label not in seen, label
            seen.add(label)
            with open(os.path.join(d, label), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
