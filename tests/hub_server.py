"""A local stand-in for the Hugging Face Hub's file endpoints, enough for `huggingface_hub.hf_hub_download`.

It answers `HEAD` and `GET` on `/{owner}/{name}/resolve/{revision}/{filename}` the way the Hub does for a regular
(non-Xet) file: `X-Repo-Commit` (the commit the revision points to), `ETag` (the file's SHA-256, quoted) and
`Content-Length`; `GET` honours `Range: bytes=N-` with `206 Partial Content`, as a resumed download asks for. It can
cut the next downloads short (half the body, then the connection closes) to imitate a dropped connection.
Serves 127.0.0.1 only; point `HF_ENDPOINT` at `url`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self, repo_id: str, files: dict[str, bytes], seconds_per_mb: float = 0.0) -> None:
        self.repo_id = repo_id
        self.files = dict(files)
        self.commit = hashlib.sha1(b"".join(sorted(self.files.values()))).hexdigest()
        self.cut_short: dict[str, int] = {}  # file name -> how many coming GETs of it to interrupt
        self.seconds_per_mb = seconds_per_mb  # slow the body down, to watch the progress
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> FakeHub:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((handler.command, handler.path, handler.headers.get("Range")))
        match = re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)", handler.path)
        if not match or match["repo"] != self.repo_id or match["file"] not in self.files:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound" if match and match["repo"] == self.repo_id else "")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data = self.files[match["file"]]
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if ranged and body:
            start = min(int(ranged[1]), len(data))
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", self.commit)
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.send_header("Accept-Ranges", "bytes")
        cut = body and self.cut_short.get(match["file"], 0) > 0
        if cut:
            self.cut_short[match["file"]] -= 1
            handler.send_header("Connection", "close")
        handler.end_headers()
        if not body:
            return
        payload = data[start:]
        if cut:
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        step = 1 << 20
        for offset in range(0, len(payload), step):
            handler.wfile.write(payload[offset : offset + step])
            if self.seconds_per_mb:
                threading.Event().wait(self.seconds_per_mb)
