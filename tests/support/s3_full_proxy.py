#!/usr/bin/env python3
"""Test-only stand-in for a bucket that can be read but not written: an HTTP proxy in front
of the real S3 server that answers PutObject under `/certificates/` with 507 Insufficient
Storage (a full disk) and passes everything else on unchanged (the Host header too, so
signatures still verify). The renewal lock objects (`/locks/`) still work, as they do on a
bucket whose policy only protects the certificates.

Each refused PUT is appended to LOG_FILE (its path, one line).

usage: s3_full_proxy.py PORT_FILE S3_ENDPOINT LOG_FILE
"""
import http.client, http.server, os, sys, urllib.parse

port_file, endpoint, log_file = sys.argv[1:4]
upstream = urllib.parse.urlsplit(endpoint)

REFUSAL = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InsufficientStorage</Code>'
           b'<Message>the disk is full (test stand-in)</Message></Error>')


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def handle_any(self):
        body = self.body()
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "PUT" and "/certificates/" in path:
            with open(log_file, "a") as f:
                f.write(path + "\n")
            self.send_response(507)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(REFUSAL)))
            self.end_headers()
            self.wfile.write(REFUSAL)
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "content-length", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        rsp = conn.getresponse()
        data = rsp.read()
        conn.close()
        self.send_response(rsp.status)
        for k, v in rsp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
