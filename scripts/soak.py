#!/usr/bin/env python3
"""Soak test: pipe many mixed events through the `lee` stdio harness.

Usage: soak.py LEE_BINARY [EVENTS] [--warm-up N]

Starts `LEE_BINARY --demo` (the embedded demo home), writes EVENTS (default
100 000) events from a fixed pseudo-random mix on its stdin while reading its
answers, and checks that every event gets exactly one answer, in order:
each directive's answer echoes its own correlationToken, each other event's
answer is of its kind. The process's resident memory (VmRSS) is sampled every
1 000 answers. At the end a diagnostics event shows the module slots (LUGS)
reclaimed and the cache within its capacity.

Prints events/s and RSS after warm-up and at the end; exits 1 if an answer
is missing, out of order or of the wrong kind, or if RSS after warm-up moves
by more than 1 MiB.
"""
import json, os, random, subprocess, sys, tempfile, threading, time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
binary = args[0]
total = int(args[1]) if len(args) > 1 else 100_000
warm_up = 10_000 if total >= 20_000 else total // 2
rng = random.Random(2026)

ENDPOINTS = ["light#living_room", "switch#coffee_maker", "climate#hallway",
             "lock#front_door", "sensor#outside_temperature"]


def directive(namespace, name, endpoint, payload, i):
    header = {"namespace": namespace, "name": name, "payloadVersion": "3",
              "messageId": f"soak-{i}"}
    scope = {"type": "BearerToken", "token": "soak-token"}
    body = {"header": header, "payload": payload}
    if endpoint:
        header["correlationToken"] = f"corr-{i}"
        body["endpoint"] = {"scope": scope, "endpointId": endpoint, "cookie": {}}
    else:
        body["payload"] = dict(payload, scope=scope)
    return {"directive": body}


def event(i):
    """The i-th event of the mix, and what its answer must be."""
    roll = rng.random()
    if roll < 0.01:
        return directive("Alexa.Discovery", "Discover", None, {}, i), ("discovery", None)
    if roll < 0.55:
        return directive("Alexa", "ReportState", rng.choice(ENDPOINTS), {}, i), ("directive", f"corr-{i}")
    if roll < 0.70:
        name = rng.choice(["TurnOn", "TurnOff"])
        return directive("Alexa.PowerController", name, rng.choice(ENDPOINTS[:2]), {}, i), ("directive", f"corr-{i}")
    if roll < 0.80:
        return (directive("Alexa.BrightnessController", "SetBrightness", "light#living_room",
                          {"brightness": rng.randrange(0, 101)}, i), ("directive", f"corr-{i}"))
    if roll < 0.85:
        return {"health_check": True}, ("health", None)
    if roll < 0.88:
        return {"op": "ha.health"}, ("op", "ha.health")
    if roll < 0.92:
        entity = rng.choice(ENDPOINTS).replace("#", ".")
        return {"op": "ha.state", "entity_id": entity}, ("op", "ha.state")
    if roll < 0.96:
        return "not json at all {", ("invalid", None)
    return directive("Alexa", "ReportState", "light#nowhere", {}, i), ("directive", f"corr-{i}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


env = dict(os.environ, LOG_LEVEL="warn")
env.pop("BASE_URL", None)
# Engine ops need a token, even against the demo home.
token = tempfile.NamedTemporaryFile("w", prefix="lee-soak-", delete=False)
token.write("soak-ops-token\n")
token.close()
lee = subprocess.Popen([binary, "--demo", "--token-file", token.name], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
expected = []
ready = threading.Semaphore(0)
all_read = threading.Event()


def write():
    for i in range(total):
        value, what = event(i)
        expected.append(what)
        line = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        lee.stdin.write(line.encode() + b"\n")
        ready.release()
    lee.stdin.flush()
    # lee stays up (stdin open) until every answer is read and measured.
    all_read.wait()
    lee.stdin.write(b'{"diagnostics": true}\n')
    lee.stdin.close()


writer = threading.Thread(target=write, daemon=True)
started = time.monotonic()
writer.start()
problems, samples = [], []
for i in range(total):
    line = lee.stdout.readline()
    if not line:
        problems.append(f"answer {i} is missing: the output ended")
        break
    ready.acquire()
    kind, correlation = expected[i]
    answer = json.loads(line)
    header = answer.get("event", {}).get("header", {})
    if kind == "directive":
        ok = header.get("correlationToken") == correlation
    elif kind == "discovery":
        ok = header.get("name") == "Discover.Response"
    elif kind == "health":
        ok = "lee" in answer
    elif kind == "op":
        ok = answer.get("op") == correlation and answer.get("ok") is True
    else:
        ok = answer.get("event", {}).get("payload", {}).get("type") == "INVALID_DIRECTIVE"
    if not ok and len(problems) < 10:
        problems.append(f"answer {i} is not the {kind} answer expected: {line[:200]!r}")
    if (i + 1) % 1000 == 0:
        samples.append((i + 1, rss_kib(lee.pid)))
elapsed = time.monotonic() - started
all_read.set()
diagnostics = json.loads(lee.stdout.readline() or "{}")
extra = lee.stdout.read()
lee.wait(30)
os.unlink(token.name)
if extra.strip():
    problems.append(f"answers beyond one per event: {extra[:200]!r}")

after_warm_up = [kib for n, kib in samples if n >= warm_up]
drift_kib = max(after_warm_up) - min(after_warm_up) if after_warm_up else 0
slots = diagnostics.get("slots", {})
unloads = sum(m.get("unloads", 0) for m in slots.get("modules", []))
cache = diagnostics.get("cache", {})
print(f"events: {total} in {elapsed:.2f} s = {total / elapsed:,.0f} events/s")
print(f"RSS: {samples[0][1] if samples else 0} KiB after 1 000 events, "
      f"{after_warm_up[0] if after_warm_up else 0} KiB after {warm_up:,} (warm-up), "
      f"{samples[-1][1] if samples else 0} KiB at the end; "
      f"after warm-up it moved within {drift_kib} KiB")
print(f"LUGS: {unloads} slot unloads; cache: {cache.get('entries')} of {cache.get('entry_capacity')} entries, "
      f"{cache.get('bytes')} of {cache.get('byte_capacity')} bytes")
if drift_kib > 1024:
    problems.append(f"RSS moved by {drift_kib} KiB after warm-up (more than 1 MiB)")
if unloads == 0:
    problems.append("no module slot was ever reclaimed")
if cache.get("entries", 0) > cache.get("entry_capacity", 0) or cache.get("bytes", 0) > cache.get("byte_capacity", 0):
    problems.append("the cache is over its capacity")
for problem in problems:
    print(f"soak: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
