#!/usr/bin/python3
"""The lab's 'inference server': HTTP on ADDR:8000 (inside the lab host namespace). Each
completion reads KV-cache blocks from the cache directory, asks the vector store for context over
TLS and appends a line to its log. It also has a 'tool use' endpoint that runs a shell command:
the foothold a prompt injection gets in the child-process scenario."""
import http.client, http.server, json, os, socketserver, ssl, subprocess, sys

DATA = "/srv/sluice-lab"
ctx = ssl.create_default_context(cafile=DATA + "/ca.pem")
log = open(DATA + "/logs/inference.log", "a", buffering=1)

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def answer(self, obj):
        b = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/v1/completions":
            with open(DATA + "/cache/kv-0000.bin", "rb") as f:
                f.read(4096)
            v = http.client.HTTPSConnection("vectors.internal", 6333, context=ctx, timeout=10)
            v.request("POST", "/collections/crm/points/search", body=b'{"vector":[0.1,0.2],"limit":3}')
            v.getresponse().read()
            v.close()
            log.write("completion prompt=%r tokens=42\n" % req.get("prompt", ""))
            self.answer({"text": "lorem ipsum"})
        elif self.path == "/v1/tools/run":  # the vulnerable tool: runs what the model asks for
            p = subprocess.run(["/bin/sh", "-c", req["cmd"]], capture_output=True, text=True)
            self.answer({"rc": p.returncode, "out": p.stdout[-2000:], "err": p.stderr[-2000:]})
        else:
            self.send_error(404)

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

S((sys.argv[1], 8000), H).serve_forever()
