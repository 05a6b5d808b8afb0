#!/usr/bin/env python3
"""The lab's system job: one copy per client, answering which node and allocation served.

Run by the exec driver from an artifact whose checksum the job pins (jobs/node-info.nomad.hcl).
Only the standard library: the task's chroot holds the host's /usr, nothing else.
"""
import http.server
import os
import sys

NODE = sys.argv[1] if len(sys.argv) > 1 else "unknown"
ALLOC = os.environ.get("NOMAD_ALLOC_ID", "none")
PORT = int(os.environ.get("NOMAD_PORT_http", "8080"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"node-info: node {NODE}, alloc {ALLOC}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


print(f"node-info on {NODE} listening on {PORT}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
