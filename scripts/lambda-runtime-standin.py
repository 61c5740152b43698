#!/usr/bin/env python3
"""A stand-in for the AWS Lambda Runtime API, for smoke tests.

Usage: lambda-runtime-standin.py --event JSON [--timeout S] -- COMMAND...

Starts COMMAND the way Lambda starts a `provided` runtime's `bootstrap`
(AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT without a scheme, as Lambda sets it,
plus the function's name, memory and version), hands it the one event on
GET /2018-06-01/runtime/invocation/next (with the request id and a deadline
10 s ahead, in Unix milliseconds), prints the body it POSTs to .../response
on stdout (the runtime's own output goes to stderr), then stops it. Exits 1 on an error report, an early exit or the timeout.
"""
import argparse, os, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cli = argparse.ArgumentParser()
cli.add_argument("--event", required=True)
cli.add_argument("--timeout", type=float, default=60.0)
cli.add_argument("command", nargs="+")
args = cli.parse_args()
request_id, done, result, served = str(uuid.uuid4()), threading.Event(), {}, threading.Lock()
PREFIX = "/2018-06-01/runtime"


class RuntimeApi(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != PREFIX + "/invocation/next":
            return self.reply(404)
        if not served.acquire(blocking=False):
            done.wait()  # one event only: a second poll waits until we stop the runtime
            return self.reply(410)
        deadline = int((time.time() + 10) * 1000)
        self.reply(200, args.event.encode(), {"Lambda-Runtime-Aws-Request-Id": request_id,
                   "Lambda-Runtime-Deadline-Ms": str(deadline),
                   "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:lee"})

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == f"{PREFIX}/invocation/{request_id}/response":
            result["answer"] = body
        elif self.path in (f"{PREFIX}/invocation/{request_id}/error", PREFIX + "/init/error"):
            result["error"] = f"{self.path}: {body.decode(errors='replace')}"
        else:
            return self.reply(404)
        self.reply(202)
        done.set()

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
           AWS_LAMBDA_FUNCTION_NAME="lee", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
           AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_REGION="us-east-1")
started = time.monotonic()
runtime = subprocess.Popen(args.command, env=env, stdout=sys.stderr)  # its logs, as Lambda's go to the log
while not done.wait(0.05) and runtime.poll() is None and time.monotonic() - started < args.timeout:
    pass
elapsed = time.monotonic() - started
if runtime.poll() is None:
    runtime.terminate()
    try:
        runtime.wait(5)
    except subprocess.TimeoutExpired:
        runtime.kill()
        runtime.wait()
done.set()  # releases a handler still waiting on a second poll
server.shutdown()
if "answer" in result:
    print(f"standin: answered in {elapsed * 1000:.0f} ms (start included)", file=sys.stderr)
    sys.stdout.write(result["answer"].decode(errors="replace") + "\n")
    sys.exit(0)
why = result.get("error") or (f"the runtime exited with {runtime.returncode} before answering"
                              if elapsed < args.timeout else f"no answer within {args.timeout:.0f} s")
print(f"standin: {why}", file=sys.stderr)
sys.exit(1)
