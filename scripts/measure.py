#!/usr/bin/env python3
"""Measure what memory-budget.md and the cost note quote, on this machine.

Usage: measure.py BOOTSTRAP LEE [--runs N]

- cold start: process start -> first Discovery answered, for the Lambda
  `bootstrap` under a stand-in of the Runtime API (HA warm), N runs, median;
- peak RSS (VmHWM) of `bootstrap` for: one health event with no Home
  Assistant (runtime, tokio, allocator, binary), one Discovery from the real
  Home Assistant over HTTP, and the same ReportState 200 times over HTTP and
  over HTTPS (a loopback TLS proxy with a self-signed certificate; the
  difference is rustls with its root store and one connection's buffers);
- peak RSS of the stdio harness `lee` over 10 000 mixed events on the demo home.

The real Home Assistant of ../shared/ha is needed for the Discovery and
ReportState lines (skipped without it); `openssl` for the HTTPS line.
"""
import http.client, http.server, json, os, socket, ssl, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

args = [a for a in sys.argv[1:] if not a.startswith("--")]
bootstrap, lee = os.path.abspath(args[0]), os.path.abspath(args[1])
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 20


def ha_env():
    home = os.environ.get("LEE_HA_HOME") or os.path.expanduser("~/.cache/lee-ha")
    try:
        env = dict(line.split("=", 1) for line in open(os.path.join(home, "env")).read().split())
        token = open(env["LEE_HA_TOKEN_FILE"]).read().strip()
        urllib.request.urlopen(urllib.request.Request(env["LEE_HA_URL"] + "/api/",
                               headers={"Authorization": f"Bearer {token}"}), timeout=2)
        return env["LEE_HA_URL"], token
    except Exception:
        return None, None


def directive(namespace, name, endpoint, token):
    header = {"namespace": namespace, "name": name, "payloadVersion": "3", "messageId": "m"}
    scope = {"type": "BearerToken", "token": token}
    body = {"header": header, "payload": {}}
    if endpoint:
        header["correlationToken"] = "c"
        body["endpoint"] = {"scope": scope, "endpointId": endpoint, "cookie": {}}
    else:
        body["payload"] = {"scope": scope}
    return json.dumps({"directive": body})


class Runtime:
    """The Lambda Runtime API for one process: hands out `events`, records answers."""

    def __init__(self, events):
        self.events, self.answers, self.done = list(events), [], threading.Event()
        runtime = self

        class Api(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if not runtime.events:
                    runtime.done.set()
                    time.sleep(3600)
                event = runtime.events.pop(0).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"r{len(runtime.answers)}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + 10) * 1000)))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:0:function:lee")
                self.send_header("Content-Length", str(len(event)))
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                runtime.answers.append((time.monotonic(), body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, env):
        """Start bootstrap, answer every event, stop it: (seconds to first answer, peak RSS KiB)."""
        env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.server.server_address[1]}",
                   AWS_LAMBDA_FUNCTION_NAME="lee", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
                   AWS_LAMBDA_FUNCTION_VERSION="$LATEST", LOG_LEVEL="warn", METRICS="off")
        started = time.monotonic()
        process = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.done.wait(60)
        hwm = peak_rss_kib(process.pid)
        process.kill()
        process.wait()
        self.server.shutdown()
        return self.answers[0][0] - started, hwm


def peak_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def tls_proxy(target_port):
    """A loopback HTTPS server relaying to 127.0.0.1:target_port; (url, CA PEM path)."""
    work = tempfile.mkdtemp(prefix="lee-measure-")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve():
        while True:
            client, _ = listener.accept()
            try:
                secure = context.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pump, args=(secure, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, secure), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return f"https://127.0.0.1:{listener.getsockname()[1]}", cert


base = {k: v for k, v in os.environ.items() if not k.startswith(("BASE_URL", "LONG_LIVED", "HA_TOKEN"))}
rows = []
_, idle = Runtime(['{"health_check": true}']).run(base)
rows.append(("bootstrap, one health event, no Home Assistant", f"{idle / 1024:.1f} MiB peak RSS"))
url, token = ha_env()
if url:
    discovery = directive("Alexa.Discovery", "Discover", None, token)
    times, peaks = [], []
    for _ in range(runs):
        took, hwm = Runtime([discovery]).run(dict(base, BASE_URL=url))
        times.append(took * 1000)
        peaks.append(hwm)
    rows.append((f"cold start: process start -> first Discovery answered (53 endpoints), {runs} runs",
                 f"median {statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f})"))
    direct = []
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    for _ in range(runs):
        started = time.monotonic()
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", "/api/alexa/smart_home", discovery.encode(),
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        connection.getresponse().read()
        connection.close()
        direct.append((time.monotonic() - started) * 1000)
    rows.append(("the same Discovery straight to Home Assistant on a new connection (Python http.client)",
                 f"median {statistics.median(direct):.1f} ms: lee's cold start adds "
                 f"{statistics.median(times) - statistics.median(direct):.1f} ms"))
    rows.append(("bootstrap, one Discovery over HTTP", f"{max(peaks) / 1024:.1f} MiB peak RSS"))
    report = directive("Alexa", "ReportState", "light#bed_light", token)
    _, plain = Runtime([report] * 200).run(dict(base, BASE_URL=url))
    rows.append(("bootstrap, 200 ReportState over HTTP (one kept-alive connection)", f"{plain / 1024:.1f} MiB peak RSS"))
    try:
        tls_url, ca = tls_proxy(int(url.rsplit(":", 1)[1]))
        _, secure = Runtime([report] * 200).run(dict(base, BASE_URL=tls_url, SSL_CA_BUNDLE=ca))
        rows.append(("bootstrap, 200 ReportState over HTTPS (rustls, one connection)",
                     f"{secure / 1024:.1f} MiB peak RSS (+{(secure - plain) / 1024:.2f} MiB for TLS)"))
    except (OSError, subprocess.CalledProcessError) as e:
        rows.append(("HTTPS", f"skipped: {e}"))
else:
    rows.append(("cold start and Home Assistant lines", "skipped: no Home Assistant harness running"))

soak = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "soak.py"), lee, "10000"],
                      capture_output=True, text=True)
rss_line = next((l for l in soak.stdout.splitlines() if l.startswith("RSS")), soak.stderr.strip())
rows.append(("stdio harness lee, 10 000 mixed events on the demo home", rss_line))
width = max(len(r[0]) for r in rows)
for what, value in rows:
    print(f"{what:<{width}}  {value}")
