"""A small job service for the tests, served on 127.0.0.1 from a thread of the test process.

    POST /jobs                 {"seconds": 2, "fail": false, "result": ...}; honours
                               Idempotency-Key (same key -> same job, 200); else 201
    GET  /jobs/<id>            {"id", "status": running|succeeded|failed|cancelled, "key"}
    GET  /jobs/<id>/result     {"data": {"value": <result>}}
    POST /jobs/<id>/cancel     {"id", "status": "cancelled"}
    GET  /jobs/by-key/<key>    the job submitted with that Idempotency-Key, or 404

Faults are injected per method and path prefix (``inject``): a status with a body and
headers, or ``"drop"`` (the job is created, then the connection is closed unanswered: a
crash inside the submit window as the client sees it).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JobService:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.faults: dict[tuple[str, str], deque[Any]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JobService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def inject(self, method: str, prefix: str, *faults: Any) -> None:
        """The next requests matching ``method`` and ``prefix`` get ``faults`` in order:
        ``(status, body, headers)`` tuples or ``"drop"``."""
        with self.lock:
            self.faults.setdefault((method, prefix), deque()).extend(faults)

    def _fault(self, method: str, path: str) -> Any:
        with self.lock:
            for (m, prefix), queue in self.faults.items():
                if m == method and path.startswith(prefix) and queue:
                    return queue.popleft()
        return None

    def status(self, job: dict[str, Any]) -> str:
        if job["status"] == "running" and time.time() >= job["ends"]:
            job["status"] = "failed" if job["fail"] else "succeeded"
        return str(job["status"])

    def view(self, job: dict[str, Any]) -> dict[str, Any]:
        return {"id": job["id"], "status": self.status(job), "key": job["key"]}

    def create(self, body: Any, key: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if key is not None and key in self.by_key:
                return 200, self.view(self.jobs[self.by_key[key]])
            job_id = f"j-{uuid.uuid4().hex[:8]}"
            job = {
                "id": job_id,
                "key": key,
                "ends": time.time() + float(body["seconds"]),
                "fail": bool(body.get("fail", False)),
                "result": body.get("result"),
                "status": "running",
            }
            self.jobs[job_id] = job
            if key is not None:
                self.by_key[key] = job_id
            return 201, self.view(job)


def _handler(service: JobService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests read service.requests instead

        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            service.requests.append((self.command, self.path, status))

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def do_POST(self) -> None:
            fault = service._fault("POST", self.path)
            body = self._body()
            if self.path == "/jobs":
                if not isinstance(body, dict) or not isinstance(body.get("seconds"), (int, float)):
                    self._answer(400, {"error": "seconds must be a number"})
                    return
                if fault is not None and fault != "drop":
                    self._answer(*fault)
                    return
                status, job = service.create(body, self.headers.get("Idempotency-Key"))
                if fault == "drop":  # accepted, but the answer never reaches the client
                    service.requests.append(("POST", self.path, 0))
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._answer(status, job)
                return
            if fault is not None:
                self._answer(*fault)
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "cancel":
                job = service.jobs.get(parts[1])
                if job is None:
                    self._answer(404, {"error": "no such job"})
                    return
                if service.status(job) == "running":
                    job["status"] = "cancelled"
                self._answer(200, service.view(job))
                return
            self._answer(404, {"error": "no such path"})

        def do_GET(self) -> None:
            fault = service._fault("GET", self.path)
            if fault is not None:
                self._answer(*fault)
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["jobs", "by-key"]:
                job_id = service.by_key.get(parts[2])
                if job_id is None:
                    self._answer(404, {"error": "no job with that key"})
                else:
                    self._answer(200, service.view(service.jobs[job_id]))
                return
            job = service.jobs.get(parts[1]) if len(parts) >= 2 and parts[0] == "jobs" else None
            if job is None:
                self._answer(404, {"error": "no such job"})
            elif len(parts) == 2:
                self._answer(200, service.view(job))
            elif parts[2:] == ["result"] and service.status(job) == "succeeded":
                self._answer(200, {"data": {"value": job["result"]}})
            else:
                self._answer(409, {"error": f"job is {service.status(job)}"})

    return Handler
