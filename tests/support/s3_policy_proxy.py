#!/usr/bin/env python3
"""Test-only stand-in for AWS IAM in front of the real S3 server: requests signed with an
access key starting with `restricted` get the rights of the platform's restricted-user
policy (s3:ListBucket on the bucket, s3:* on its objects): ListObjects and HeadBucket pass,
every other bucket-level call (GetBucketCors, PutBucketCors, GetBucketVersioning,
CreateBucket, ListBuckets, ...) is answered 403 AccessDenied with S3's XML error. The key
`restricted-noput` also lacks s3:PutObject. Other keys (the owner) pass unchanged, as does
everything allowed (Host header too, so signatures still verify).

Each refusal is appended to LOG_FILE as `KEY ACTION`.

usage: s3_policy_proxy.py PORT_FILE S3_ENDPOINT LOG_FILE
"""
import re, sys, urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import s3_forward  # noqa: E402

port_file, endpoint, log_file = sys.argv[1:4]
upstream = urllib.parse.urlsplit(endpoint)

LIST_PARAMS = {"list-type", "prefix", "delimiter", "continuation-token", "max-keys",
               "start-after", "encoding-type", "fetch-owner", "marker", "x-id"}
BUCKET_ACTIONS = {"cors": "GetBucketCors", "versioning": "GetBucketVersioning", "policy": "GetBucketPolicy",
                  "acl": "GetBucketAcl", "lifecycle": "GetLifecycleConfiguration", "location": "GetBucketLocation"}


def access_key(headers):
    m = re.search(r"Credential=([^/]+)/", headers.get("Authorization", ""))
    return m.group(1) if m else ""


def denied_action(key, method, path, query):
    """The IAM action a restricted key may not perform here, or None."""
    if not key.startswith("restricted"):
        return None
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0]
    obj = parts[1] if len(parts) > 1 else ""
    if not bucket:
        return "s3:ListAllMyBuckets"
    if obj:
        if method == "PUT" and key == "restricted-noput":
            return "s3:PutObject"
        return None
    params = set(query)
    if method == "HEAD" and not params:
        return None
    if method == "GET" and params <= LIST_PARAMS:
        return None
    if method == "POST" and "delete" in params:
        return None
    for p, action in BUCKET_ACTIONS.items():
        if p in params:
            return "s3:" + (action.replace("Get", "Put", 1) if method == "PUT" else action)
    return "s3:CreateBucket" if method == "PUT" else "s3:" + method.title() + "Bucket"


class Handler(s3_forward.Forwarder):
    protocol_version = "HTTP/1.1"
    upstream = upstream

    def handle_any(self):
        body = self.body()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        key = access_key(self.headers)
        action = denied_action(key, self.command, url.path, query)
        if action:
            with open(log_file, "a") as f:
                f.write(f"{key} {action}\n")
            bucket = url.path.lstrip("/").split("/", 1)[0]
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                   f'<Message>User: arn:aws:iam::123456789012:user/gradient-storage-provider-user is not '
                   f'authorized to perform: {action} on resource: "arn:aws:s3:::{bucket}" because no '
                   f'identity-based policy allows the {action} action</Message>'
                   '<RequestId>TESTPOLICY</RequestId></Error>').encode()
            self.refuse(403, xml)
            return
        self.forward(body)


s3_forward.serve(Handler, port_file)
