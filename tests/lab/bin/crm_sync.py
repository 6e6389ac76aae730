#!/usr/bin/python3
"""The lab's CRM sync service: pulls contact records from the CRM REST API over TLS with the
service account's bearer token and writes them to the vector store (TLS) or, with --queue, to
the plaintext sync queue (a Kafka Produce request). One pass per run.
  crm_sync.py [--crm HOST] [--vectors HOST:PORT] [--queue HOST:PORT]"""
import argparse, http.client, json, os, socket, ssl, struct, sys, time

DATA = "/srv/sluice-lab"
p = argparse.ArgumentParser()
p.add_argument("--crm", default="acme.my.salesforce.com")
p.add_argument("--vectors", default="vectors.internal:6333")
p.add_argument("--queue")
a = p.parse_args()
time.sleep(0.5)  # a long-lived service: sluice has attached its TLS probes by its first call
print("T0=%d" % int(time.time() * 1000), flush=True)
ctx = ssl.create_default_context(cafile=DATA + "/ca.pem")
token = open(DATA + "/secrets/crm-token").read().strip()

c = http.client.HTTPSConnection(a.crm, 443, context=ctx, timeout=10)
c.request("GET", "/services/data/v59.0/query?q=SELECT+Id,Name,Email,Phone+FROM+Contact",
          headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
recs = json.loads(c.getresponse().read())["records"]
c.close()
body = json.dumps({"points": [{"id": r["Id"], "payload": r} for r in recs]}).encode()

if a.queue:
    host, port = a.queue.split(":")
    client_id = b"crm-sync-producer"
    msg = struct.pack(">hhih", 0, 7, 1, len(client_id)) + client_id + body
    s = socket.create_connection((host, int(port)), 10)
    s.sendall(struct.pack(">I", len(msg)) + msg)
    s.close()
    print("sync: %d records from %s -> queue %s (plaintext)" % (len(recs), a.crm, a.queue))
else:
    host, port = a.vectors.split(":")
    v = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    v.request("PUT", "/collections/crm/points", body=body,
              headers={"Content-Type": "application/json"})
    v.getresponse().read()
    v.close()
    print("sync: %d records from %s -> %s" % (len(recs), a.crm, a.vectors))
