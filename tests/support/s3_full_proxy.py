#!/usr/bin/env python3
"""Test-only stand-in for a bucket that can be read but not written: an HTTP proxy in front
of the real S3 server that answers PutObject under `/certificates/` with 507 Insufficient
Storage (a full disk) and passes everything else on unchanged (the Host header too, so
signatures still verify). The renewal lock objects (`/locks/`) still work, as they do on a
bucket whose policy only protects the certificates.

Each refused PUT is appended to LOG_FILE (its path, one line).

usage: s3_full_proxy.py PORT_FILE S3_ENDPOINT LOG_FILE
"""
import sys, urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import s3_forward  # noqa: E402

port_file, endpoint, log_file = sys.argv[1:4]
upstream = urllib.parse.urlsplit(endpoint)

REFUSAL = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InsufficientStorage</Code>'
           b'<Message>the disk is full (test stand-in)</Message></Error>')


class Handler(s3_forward.Forwarder):
    upstream = upstream

    def handle_any(self):
        body = self.body()
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "PUT" and "/certificates/" in path:
            with open(log_file, "a") as f:
                f.write(path + "\n")
            self.refuse(507, REFUSAL)
            return
        self.forward(body)


s3_forward.serve(Handler, port_file)
