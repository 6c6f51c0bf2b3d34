#!/usr/bin/env python3
"""Test-only ARI endpoint in front of Pebble (whose 2.4 release has no renewalInfo).

Serves over HTTPS with Pebble's own certificate:
  GET /dir                 Pebble's directory plus "renewalInfo": "<this server>/renewal-info"
  GET /renewal-info/<id>   {"suggestedWindow": {...}} from WINDOW_FILE, with Retry-After
Every renewal-info request's <id> is appended to LOG_FILE. Everything else is Pebble's:
the directory's other URLs still point at Pebble itself.

usage: ari_endpoint.py PORT_FILE PEBBLE_DIR_URL PEBBLE_TLS_CA CERT KEY WINDOW_FILE LOG_FILE
WINDOW_FILE holds {"start_in": seconds, "end_in": seconds, "retry_after": seconds}.
"""
import datetime, http.server, json, ssl, sys, urllib.request

port_file, pebble_dir, pebble_ca, cert, key, window_file, log_file = sys.argv[1:8]
ctx_client = ssl.create_default_context(cafile=pebble_ca)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        base = f"https://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/dir":
            with urllib.request.urlopen(pebble_dir, context=ctx_client) as r:
                directory = json.load(r)
            directory["renewalInfo"] = base + "/renewal-info"
            return self.send(200, directory)
        if self.path.startswith("/renewal-info/"):
            cert_id = self.path[len("/renewal-info/"):]
            with open(log_file, "a") as f:
                f.write(cert_id + "\n")
            with open(window_file) as f:
                w = json.load(f)
            now = datetime.datetime.now(datetime.timezone.utc)
            fmt = lambda s: (now + datetime.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            window = {"start": fmt(w["start_in"]), "end": fmt(w["end_in"])}
            return self.send(200, {"suggestedWindow": window}, [("Retry-After", str(w.get("retry_after", 3600)))])
        self.send(404, {"type": "about:blank", "detail": "not served by the test ARI endpoint"})


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
