#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for the tests of Scalpel's Hub client: it
serves one repository (the files of a local folder) under the routes `huggingface_hub` and
Scalpel use, with the Hub's headers:

    GET  /api/models/ORG/NAME/revision/REV          {"id", "sha", "siblings": [{"rfilename"}]}
    GET  /api/models/ORG/NAME/tree/REV[/PATH]       [{"type": "file", "path", "size", "oid", "lfs"?}]
    HEAD|GET /ORG/NAME/resolve/REV/FILE             small files: 200, ETag = git blob SHA-1;
                                                    *.safetensors (LFS): 302 to /cdn/SHA256 with
                                                    X-Linked-Etag = SHA-256 and X-Linked-Size
    HEAD|GET /cdn/SHA256                            the LFS file, with Range support (206), on a
                                                    second port (another host, as the Hub's CDN)

Every response carries X-Repo-Commit. REV is "main" or the commit (a SHA-1 of the files).

    python3 Tests/hub_server.py --folder DIR --repo ORG/NAME [--token T] [--cut-after BYTES] [--log FILE]

Prints "PORT <n>" once listening. --token: every request needs "Authorization: Bearer T" (401
otherwise, 403 for a wrong one). --cut-after: the first GET of an LFS file sends that many bytes of
its body and drops the connection (an interrupted download). --log: one JSON line per request
(method, path, range, authorization).
"""
import argparse, hashlib, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, folder, name):
        self.name = name
        self.files = {}
        for f in sorted(os.listdir(folder)):
            path = os.path.join(folder, f)
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    self.files[f] = fh.read()
        digest = hashlib.sha1()
        for f, data in self.files.items():
            digest.update(f.encode() + b"\0" + hashlib.sha256(data).digest())
        self.commit = digest.hexdigest()

    @staticmethod
    def is_lfs(name):
        return name.endswith(".safetensors")

    def entry(self, f):
        data = self.files[f]
        e = {"type": "file", "path": f, "size": len(data), "oid": git_blob_sha1(data)}
        if self.is_lfs(f):
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return e


cdn_port = [0]  # the LFS files are served on a second port: another "host", as the Hub's CDN is


def make_handler(repo, token, cut_after, log):
    cut = {"pending": cut_after is not None}
    lock = threading.Lock()
    by_sha256 = {hashlib.sha256(d).hexdigest(): d for f, d in repo.files.items() if repo.is_lfs(f)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def record(self):
            if log:
                with lock, open(log, "a") as fh:
                    fh.write(json.dumps({
                        "method": self.command, "path": self.path, "range": self.headers.get("Range"),
                        "authorization": self.headers.get("Authorization")}) + "\n")

        def send(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("X-Repo-Commit", repo.commit)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def error(self, status, message, head):
            body = json.dumps({"error": message}).encode()
            self.send(status, body, {"Content-Type": "application/json", "X-Error-Message": message}, head)

        def authorized(self, head):
            if token is None:
                return True
            given = self.headers.get("Authorization")
            if given is None:
                self.error(401, "Access to this repository is restricted: log in", head)
                return False
            if given != f"Bearer {token}":
                self.error(403, "This token may not read this repository", head)
                return False
            return True

        def revision_ok(self, rev):
            return rev in ("main", repo.commit)

        def do_HEAD(self):
            self.handle_request(head=True)

        def do_GET(self):
            self.handle_request(head=False)

        def handle_request(self, head):
            self.record()
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            org, name = repo.name.split("/")
            if parts[:1] == ["cdn"] and len(parts) == 2:
                return self.cdn(parts[1], head)
            if not self.authorized(head):
                return
            # /api/models/ORG/NAME/revision/REV and /api/models/ORG/NAME/tree/REV[/PATH]
            if parts[:2] == ["api", "models"]:
                if parts[2:4] != [org, name]:
                    return self.error(404, "Repository not found", head)
                if len(parts) >= 6 and parts[4] in ("revision", "tree"):
                    rev = parts[5]
                    if not self.revision_ok(rev):
                        return self.error(404, "Revision not found", head)
                    if parts[4] == "revision":
                        info = {"id": repo.name, "modelId": repo.name, "sha": repo.commit, "private": False,
                                "siblings": [{"rfilename": f} for f in repo.files]}
                        return self.send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                    prefix = "/".join(parts[6:])
                    entries = [repo.entry(f) for f in repo.files if not prefix or f.startswith(prefix + "/")]
                    return self.send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, head)
                return self.error(404, "Not found", head)
            # /ORG/NAME/resolve/REV/FILE
            if len(parts) >= 5 and parts[2] == "resolve":
                if parts[:2] != [org, name]:
                    return self.error(404, "Repository not found", head)
                if not self.revision_ok(parts[3]):
                    return self.error(404, "Revision not found", head)
                f = "/".join(parts[4:])
                if f not in repo.files:
                    return self.error(404, "Entry not found", head)
                data = repo.files[f]
                if repo.is_lfs(f):
                    sha = hashlib.sha256(data).hexdigest()
                    return self.send(302, b"", {
                        "Location": f"http://127.0.0.1:{cdn_port[0]}/cdn/{sha}",
                        "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                        "ETag": f'"{git_blob_sha1(data)}"'}, head)
                return self.send(200, data, {"ETag": f'"{git_blob_sha1(data)}"', "Content-Type": "application/octet-stream"}, head)
            return self.error(404, "Not found", head)

        def cdn(self, sha, head):
            data = by_sha256.get(sha)
            if data is None:
                return self.error(404, "Not found", head)
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                if start >= len(data):
                    return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            body = data[start:]
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(body)), "ETag": f'"{sha}"',
                       "Accept-Ranges": "bytes"}
            status = 200
            if start:
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if head:
                return
            with lock:
                cutting = cut["pending"] and not head
                cut["pending"] = False
            if cutting:
                self.wfile.write(body[:cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--folder", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--token")
    p.add_argument("--cut-after", type=int)
    p.add_argument("--log")
    args = p.parse_args()
    repo = Repo(args.folder, args.repo)
    handler = make_handler(repo, args.token, args.cut_after, args.log)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    cdn_port[0] = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]} COMMIT {repo.commit}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
