#!/usr/bin/env python3
"""Test-only HTTPS proxy in front of Pebble's ACME port that can answer newOrder itself.

Every request is passed to Pebble with the client's Host header, so the URLs Pebble puts in
its answers (directory, orders, authorizations) point back at this proxy and the JWS `url`
checks still pass. On top of Pebble:
  GET /dir                 adds "renewalInfo" when RULES_FILE has a "window" (ARI; Pebble 2.4
                           has none)
  GET /renewal-info/<id>   {"suggestedWindow": ...} from the window, with Retry-After
  POST <newOrder>          answered by the first rule of RULES_FILE that matches and still has
                           "times" left, else passed to Pebble
RULES_FILE (re-read on every request):
  {"window": {"start_in": s, "end_in": s, "retry_after": s},
   "new_order": [{"when": "any"|"replaces"|"plain", "times": n, "status": 429,
                  "type": "rateLimited", "detail": "...", "retry_after": "5"}]}
Each newOrder is appended to LOG_FILE as one JSON line:
  {"at": unix_time, "replaces": "<id>" or null, "status": answered_status}

usage: acme_proxy.py PORT_FILE PEBBLE_DIR_URL PEBBLE_TLS_CA CERT KEY RULES_FILE LOG_FILE
"""
import base64, datetime, http.client, http.server, json, os, ssl, sys, threading, time, urllib.parse

port_file, pebble_dir, pebble_ca, cert, key, rules_file, log_file = sys.argv[1:8]
pebble = urllib.parse.urlsplit(pebble_dir)
ctx_client = ssl.create_default_context(cafile=pebble_ca)
lock = threading.Lock()
used = {}  # (index, rule as written) -> times used: a rewritten rules file starts afresh


def rules():
    try:
        with open(rules_file) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def payload_of(body):
    try:
        jws = json.loads(body)
        text = jws.get("payload", "")
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) or b"{}")
    except (ValueError, TypeError):
        return {}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=(), content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def forward(self, body=None):
        conn = http.client.HTTPSConnection(pebble.hostname, pebble.port, context=ctx_client, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        rsp = conn.getresponse()
        data = rsp.read()
        conn.close()
        return rsp.status, [(k, v) for k, v in rsp.getheaders()
                            if k.lower() not in ("connection", "content-length", "transfer-encoding")], data

    def passthrough(self, body=None):
        status, headers, data = self.forward(body)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def do_HEAD(self):
        self.passthrough()

    def do_GET(self):
        config = rules()
        window = config.get("window")
        if self.path == "/dir":
            status, headers, data = self.forward()
            directory = json.loads(data)
            if window:
                directory["renewalInfo"] = f"https://{self.headers['Host']}/renewal-info"
            return self.reply(status, directory)
        if self.path.startswith("/renewal-info/") and window:
            now = datetime.datetime.now(datetime.timezone.utc)
            fmt = lambda s: (now + datetime.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"suggestedWindow": {"start": fmt(window["start_in"]), "end": fmt(window["end_in"])}}
            return self.reply(200, body, [("Retry-After", str(window.get("retry_after", 3600)))])
        self.passthrough()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.path.endswith("/order-plz") and "new-order" not in self.path:
            return self.passthrough(body)
        replaces = payload_of(body).get("replaces")
        rule = None
        with lock:
            for i, r in enumerate(rules().get("new_order", [])):
                when = r.get("when", "any")
                if when == "replaces" and not replaces or when == "plain" and replaces:
                    continue
                key = (i, json.dumps(r, sort_keys=True))
                if used.get(key, 0) < r.get("times", 1):
                    used[key] = used.get(key, 0) + 1
                    rule = r
                    break
        if rule is None:
            status = self.passthrough(body)
        else:
            status = rule.get("status", 429)
            problem = {
                "type": "urn:ietf:params:acme:error:" + rule.get("type", "rateLimited"),
                "detail": rule.get("detail", "injected by the test proxy"),
                "status": status,
            }
            headers = [("Retry-After", rule["retry_after"])] if "retry_after" in rule else []
            self.reply(status, problem, headers, "application/problem+json")
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"at": time.time(), "replaces": replaces, "status": status}) + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
