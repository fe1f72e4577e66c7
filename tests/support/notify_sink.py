#!/usr/bin/env python3
"""A local receiver for notification tests: webhooks over HTTP and mail over
SMTP (aiosmtpd, Debian's python3-aiosmtpd), on loopback only.

Every delivery is appended as one JSON line to --out:
  {"kind": "webhook", "key": IDEMPOTENCY-KEY, "body": {...}, "path": "/x", "at": unix}
  {"kind": "mail", "key": X-DUET-KEY, "message_id": ..., "subject": ..., "to": [...], "at": unix}
  {"kind": "syslog", "line": RFC-5424-LINE, "at": unix}

--fail-first N answers the first N webhooks with 503 (retries are tested);
--fail-path P answers every webhook to path P with 500. The receiver stops
itself after --max-seconds (every test load is bounded).
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
out_file = None
state = {"webhooks": 0, "fail_first": 0, "fail_path": None}


def record(entry):
    entry["at"] = time.time()
    line = json.dumps(entry, sort_keys=True)
    with lock:
        out_file.write(line + "\n")
        out_file.flush()


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            state["webhooks"] += 1
            n = state["webhooks"]
        if n <= state["fail_first"] or self.path == state["fail_path"]:
            self.reply(503 if n <= state["fail_first"] else 500)
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        record({"kind": "webhook", "key": self.headers.get("Idempotency-Key", ""),
                "epoch": self.headers.get("X-Duet-Epoch", ""), "path": self.path,
                "header_x_team": self.headers.get("X-Team", ""), "body": parsed})
        self.reply(200)

    do_PUT = do_POST


def start_smtp(host, port, secure=None):
    """secure: (cert, key, user, password): STARTTLS and AUTH required."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from email import message_from_bytes

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            msg = message_from_bytes(envelope.content)
            record({"kind": "mail", "secure": bool(secure),
                    "tls": session.ssl is not None,
                    "login": bool(getattr(session, "authenticated", False)),
                    "key": msg.get("X-Duet-Key", ""),
                    "message_id": msg.get("Message-ID", ""), "subject": msg.get("Subject", ""),
                    "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                    "body": msg.get_payload(decode=True).decode("utf-8", "replace")})
            return "250 OK"

    kwargs = {}
    if secure:
        import ssl
        cert, key, user, password = secure
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

        def authenticator(server, session, envelope, mechanism, data):
            ok = data is not None and data.login == user.encode() and data.password == password.encode()
            return AuthResult(success=ok)

        kwargs = {"tls_context": ctx, "require_starttls": True, "auth_required": True,
                  "auth_require_tls": True, "authenticator": authenticator}
    controller = Controller(Handler(), hostname=host, port=port, **kwargs)
    controller.start()
    return controller


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--http", help="HOST:PORT for webhooks")
    p.add_argument("--smtp", help="HOST:PORT for mail")
    p.add_argument("--out", required=True)
    p.add_argument("--smtps", help="HOST:PORT for mail with STARTTLS and AUTH required")
    p.add_argument("--smtps-cert", help="CERT,KEY,USER,PASSWORD for --smtps")
    p.add_argument("--syslog-udp", help="HOST:PORT for forwarded syslog (UDP)")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-path")
    p.add_argument("--max-seconds", type=float, default=600)
    a = p.parse_args()
    global out_file
    out_file = open(a.out, "a", encoding="utf-8")
    state["fail_first"] = a.fail_first
    state["fail_path"] = a.fail_path
    if a.smtp:
        host, port = a.smtp.rsplit(":", 1)
        start_smtp(host, int(port))
    if a.smtps:
        host, port = a.smtps.rsplit(":", 1)
        start_smtp(host, int(port), tuple(a.smtps_cert.split(",")))
    if a.http:
        host, port = a.http.rsplit(":", 1)
        server = ThreadingHTTPServer((host, int(port)), Hook)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    if a.syslog_udp:
        import socket
        host, port = a.syslog_udp.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, int(port)))

        def serve_udp():
            while True:
                data, _ = sock.recvfrom(65535)
                record({"kind": "syslog", "line": data.decode("utf-8", "replace")})

        threading.Thread(target=serve_udp, daemon=True).start()
    print("ready", flush=True)
    time.sleep(a.max_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
