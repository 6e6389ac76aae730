#!/usr/bin/env python3
"""Writes the regression corpus of the fuzz targets (corpus/dns, corpus/decode): valid inputs
that reach deep into the parsers and the malformed shapes they must survive. Reproducible: run it
again after changing it and commit the result."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def name(*labels):
    return b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"


def header(qd, an, flags=0x8180, ident=0x1234):
    return struct.pack(">HHHHHH", ident, flags, qd, an, 0, 0)


def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def dns_cases():
    q = name("acme", "my", "salesforce", "com")
    question = q + struct.pack(">HH", 1, 1)
    chain = header(1, 3) + question
    target_off = len(chain) + 12
    chain += rr(b"\xc0\x0c", 5, 300, b"\x03na1\xc0\x14")
    chain += rr(bytes([0xC0, target_off]), 1, 60, bytes([10, 1, 2, 3]))
    chain += rr(bytes([0xC0, target_off]), 28, 60, bytes(15) + b"\x07")
    yield "cname_chain", chain
    yield "a_only", header(1, 1) + question + rr(b"\xc0\x0c", 1, 0, bytes([192, 0, 2, 1]))
    yield "query", header(1, 0, flags=0x0100) + question
    yield "self_pointer", header(1, 0) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)
    yield "forward_pointer", header(1, 0) + b"\xc0\x40" + struct.pack(">HH", 1, 1)
    yield "label_64", header(1, 0) + b"\x40" + b"a" * 64 + b"\0" + struct.pack(">HH", 1, 1)
    yield "long_name", header(1, 0) + name(*(["x" * 63] * 5)) + struct.pack(">HH", 1, 1)
    yield "bad_rdlength", header(0, 1) + rr(name("x"), 1, 1, bytes(5))
    yield "short_header", b"\x12\x34\x81"
    yield "empty", b""
    for cut in (13, 30, 45, 60, len(chain) - 1):
        yield "chain_cut_%d" % cut, chain[:cut]
    yield "many_answers", header(0, 200) + b"".join(
        rr(name("x"), 1, 1, bytes([1, 2, 3, i % 256])) for i in range(200))


def decode_cases():
    def hdr(t, size):
        return struct.pack("<IIQIIQ", t, size, 1, 2, 3, 4)
    yield "exec", hdr(1, 464) + bytes(464 - 32)
    yield "exit", hdr(2, 40) + bytes(8)
    yield "connect", hdr(3, 64) + bytes(32)
    yield "flow", hdr(6, 136) + bytes(136 - 32)
    yield "dns", hdr(7, 576) + bytes(576 - 32)
    yield "file_open", hdr(8, 320) + bytes(320 - 32)
    yield "tls_5", hdr(9, 69) + struct.pack("<QiII", 1, 3, 5, 5) + bytes(12) + b"GET /"
    yield "tls_lying", hdr(9, 64) + struct.pack("<QiII", 1, 3, 5, 4000) + bytes(12)
    yield "size_too_big", hdr(1, 0xFFFFFFFF) + bytes(64)
    yield "unknown_type", hdr(99, 32)
    yield "short", b"\x01\x00"


def main():
    for kind, cases in (("dns", dns_cases()), ("decode", decode_cases())):
        d = os.path.join(HERE, "corpus", kind)
        os.makedirs(d, exist_ok=True)
        for label, data in cases:
            with open(os.path.join(d, label), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
