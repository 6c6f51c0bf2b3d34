"""What the test-only S3 proxies (`s3_full_proxy.py`, `s3_policy_proxy.py`) share: reading a
request's body (plain or chunked), passing the request on to the real S3 server unchanged
(the Host header too, so signatures still verify) and relaying its answer, answering with an
S3 XML error instead, and serving on a free loopback port written to PORT_FILE.

A proxy subclasses `Forwarder`, sets `upstream` (an `urllib.parse.urlsplit` result) and
decides in `handle_any` whether to `refuse` or `forward`.
"""
import http.client, http.server, os

# Hop-by-hop and length headers, set again for the relayed body.
SKIPPED = ("connection", "content-length", "transfer-encoding")


class Forwarder(http.server.BaseHTTPRequestHandler):
    upstream = None

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

    def refuse(self, status, xml):
        """Answers `status` with the S3 XML error `xml` (bytes; no body for HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(xml)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(xml)

    def forward(self, body):
        """Sends the request on to the upstream S3 server and relays its answer."""
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIPPED}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        rsp = conn.getresponse()
        data = rsp.read()
        conn.close()
        self.send_response(rsp.status)
        for k, v in rsp.getheaders():
            if k.lower() not in SKIPPED:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        raise NotImplementedError

    def do_GET(self):
        self.handle_any()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET


def serve(handler, port_file):
    """Serves `handler` on a free loopback port; the port goes to `port_file` (renamed into
    place, so a reader never sees half of it)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()
