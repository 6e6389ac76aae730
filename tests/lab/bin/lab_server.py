#!/usr/bin/python3
"""Lab endpoints. `https NAME ADDR PORT CERT KEY`: a small HTTPS server (the CRM REST API, the
vector store, object storage, the attacker's paste site). `tcp NAME ADDR PORT`: a plaintext
listener (the Kafka-like sync queue, the attacker's netcat drop). Every connection logs
`RECV <peer> <bytes> <what>` when it ends, so scenarios can say how many bytes got out."""
import json, socket, ssl, sys, threading, http.server, socketserver

kind, name, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
log = open("%s/servers/%s.log" % (sys.argv[-1], name), "a", buffering=1)
lock = threading.Lock()

def note(peer, n, what):
    with lock:
        log.write("RECV %s %d %s\n" % (peer, n, what))

def sfid(prefix, n):
    """A Salesforce 18-character record id with a valid case checksum."""
    base = prefix + "5g" + ("%010d" % n)[:10]
    base = (base + "A" * 15)[:15]
    tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for i in range(3):
        bits = sum(1 << j for j, c in enumerate(base[i * 5:i * 5 + 5]) if c.isupper())
        suffix += tbl[bits]
    return base + suffix

def records(n):
    return [{"Id": sfid("003", i), "AccountId": sfid("001", i // 10),
             "Name": "Contact %d" % i, "Email": "contact%d@customer%d.example" % (i, i % 7),
             "Phone": "+1 415 555 %04d" % (i % 10000)} for i in range(n)]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        note(self.client_address[0], self.head_bytes(), "GET " + self.path)
        if self.path.startswith("/services/data/"):
            self.reply(200, json.dumps({"totalSize": 200, "done": True,
                                        "records": records(200)}).encode())
        else:
            self.reply(200, b'{"status":"ok"}')
    def head_bytes(self):
        return len(self.raw_requestline) + len(bytes(self.headers)) + 2

    def body(self):
        # The request line and headers are in: count them now (a cut upload never ends well).
        note(self.client_address[0], self.head_bytes(), "%s %s headers" % (self.command, self.path))
        n, want = 0, int(self.headers.get("Content-Length") or 0)
        try:
            while n < want:
                b = self.rfile.read(min(65536, want - n))
                if not b:
                    break
                n += len(b)
        except (OSError, ssl.SSLError):
            pass
        note(self.client_address[0], n, "%s %s body %d of %d" % (self.command, self.path, n, want))
        if n == want:
            self.reply(200, b'{"status":"stored"}')
        else:
            self.close_connection = True
    do_POST = do_PUT = body

class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    def get_request(self):
        s, a = self.socket.accept()
        s.settimeout(4)  # a severed upload's bytes are counted when its read times out
        return ctx.wrap_socket(s, server_side=True, do_handshake_on_connect=False), a
    def handle_error(self, request, client_address):
        pass

def tcp_sink():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(16)
    def serve(c, peer):
        c.settimeout(20)
        n = 0
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                n += len(b)
        except OSError:
            pass
        note(peer[0], n, "tcp")
        c.close()
    while True:
        c, peer = srv.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()

if kind == "https":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    TLSServer((addr, port), H).serve_forever()
else:
    tcp_sink()
