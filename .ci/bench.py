#!/usr/bin/env python3
"""Cloakroom load benchmark (`make bench`).

Starts the release server on loopback with a throw-away database, drives it with wrk for a
bounded time per scenario, and prints one table, then the login-flood run (1,100 connections of
wrong logins; with BENCH_BASELINE_SERVER=path/to/old/cloakroom the same run against that build,
in the same script, for a before/after). /healthz runs in the same process and the
same minute as the baseline: the machine is noisy, so only ratios within one run mean much.
Every load goes to 127.0.0.1 only and stops by itself.

Refresh is measured twice: without a proof (one distinct cookie per request), and as the
browser makes it (the cookie of a DPoP-bound session plus a fresh proof carrying the server's
nonce). The DPoP scenarios each start on a fresh server process (same database): the server
remembers at most 100,000 live proof ids.

Then, when CLOAKROOM_TEST_POSTGRES_URL names a PostgreSQL server (`make bench` runs this under
.ci/with-postgres with durable commits), the engine comparison: the same five scenarios on
SQLite (one instance), PostgreSQL (one instance) and PostgreSQL (two instances behind nginx),
with req/s, p99 and peak RSS per instance, and each figure as a ratio of the SQLite one.

Last, #21's goals, each figure beside its target, `held` or `MISSED`.
"""
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "target/release/cloakroom")
SEED = os.path.join(ROOT, "target/release/bench-seed")
DPOP = os.path.join(ROOT, "target/release/bench-dpop")
DURATION = int(os.environ.get("BENCH_SECS", "8"))
PASSWORD = "correct horse battery staple"

# wrk prints one JSON line at the end: rate, latency percentiles (ms), and non-2xx counts.
REPORT_LUA = r"""
local non2xx = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format('BENCH {"requests":%d,"secs":%f,"p50":%f,"p99":%f,"errors":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def wrk(url, script, conns=16, threads=2, secs=DURATION):
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{secs}s", "--timeout", "5s", "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    r = json.loads(line[6:])
    r["rps"] = r["requests"] / r["secs"]
    return r


def cpu_secs(pid):
    """The process's user + system CPU time so far, in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(pid, run):
    """`run()` (a wrk run), with the server's own CPU per request it served, in µs: what the
    server spent, without wrk's share of the same two cores."""
    before = cpu_secs(pid)
    r = run()
    r["cpu_us"] = (cpu_secs(pid) - before) / r["requests"] * 1e6
    return r


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


FLOOD_CONNS = int(os.environ.get("BENCH_FLOOD_CONNS", "1100"))

FLOOD_LUA = r"""
-- Every request a new, well-formed username and a wrong password: each one costs an argon2
-- verification (unknown users are checked against a dummy hash), and no per-account lock can
-- answer it early. The per-address brakes are opened, as a botnet spread over many addresses
-- sees them.
math.randomseed(os.time())
request = function()
  local body = string.format('{"username":"flood_%d","password":"wrong password 12345"}', math.random(1, 1000000000))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
""" + REPORT_LUA


def start_server(binary, tmp, name, port, **extra):
    """`binary` on `port` with a data dir of its own (plus `extra` settings); waits until ready."""
    env = dict(os.environ,
               CLOAKROOM_PORT=str(port), CLOAKROOM_DATA_DIR=os.path.join(tmp, name),
               CLOAKROOM_DIST_DIR=os.path.join(tmp, "nodist"),
               CLOAKROOM_AUTH_RATE_PER_MINUTE="100000000", CLOAKROOM_REFRESH_RATE_PER_MINUTE="100000000",
               CLOAKROOM_LOG="error", **extra)
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            http("GET", base + "/readyz")
            return server, base
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit(f"{binary} did not start")


def scenario_scripts(tmp, tag, access, tokens, browser):
    """wrk scripts for /healthz, /api/me (Bearer), refresh (one distinct token per request, no
    proof), refresh as the browser makes it (`browser`: the path of "cookie proof" lines, see
    `browser_refresh_lines`) and login."""
    s_plain = write(os.path.join(tmp, f"{tag}-plain.lua"), REPORT_LUA)
    s_me = write(os.path.join(tmp, f"{tag}-me.lua"), f'wrk.headers["Authorization"] = "Bearer {access}"\n' + REPORT_LUA)
    login_body = json.dumps({"username": "bench_user", "password": PASSWORD})
    s_login = write(os.path.join(tmp, f"{tag}-login.lua"),
                    f'wrk.method = "POST"\nwrk.body = {json.dumps(login_body)}\n'
                    'wrk.headers["Content-Type"] = "application/json"\n' + REPORT_LUA)
    tok_file = write(os.path.join(tmp, f"{tag}-tokens.txt"), "\n".join(tokens) + "\n")
    # Each wrk thread takes every Nth token, so no token is ever sent twice.
    s_refresh = write(os.path.join(tmp, f"{tag}-refresh.lua"), f"""
local counter, threads = 0, {{}}
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  toks = {{}}; local i = 0
  for line in io.lines("{tok_file}") do
    if i % {2} == id then table.insert(toks, line) end
    i = i + 1
  end
  n = 0
end
request = function()
  n = n + 1
  local t = toks[n] or "exhausted"
  return wrk.format("POST", nil, {{["Cookie"] = "__Host-cloakroom_refresh=" .. t, ["X-Requested-With"] = "cloakroom"}}, nil)
end
""" + REPORT_LUA)
    s_browser = paired_script(os.path.join(tmp, f"{tag}-refresh-browser.lua"), browser,
                              'wrk.format("POST", nil, {["Cookie"] = "__Host-cloakroom_refresh=" .. r[1], '
                              '["X-Requested-With"] = "cloakroom", ["DPoP"] = r[2]}, nil)')
    return s_plain, s_me, s_refresh, s_browser, s_login


def paired_script(path, lines, request):
    """A wrk script sending one request per "a b" line of the file `lines`, no line twice (each
    of the two threads takes every other line), made by the Lua expression `request` from the
    line's two words `r[1]` and `r[2]`."""
    return write(path, f"""
local counter = 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1
end
function init(args)
  reqs = {{}}; local i = 0
  for line in io.lines("{lines}") do
    if i % 2 == id then
      local a, b = line:match("^(%S+) (%S+)$")
      table.insert(reqs, {{a, b}})
    end
    i = i + 1
  end
  n = 0
end
request = function()
  n = n + 1
  local r = reqs[n] or {{"exhausted", "exhausted"}}
  return {request}
end
""" + REPORT_LUA)


def current_nonce(base):
    """The server's current DPoP nonce (every API answer carries it): good for a run that ends
    well within two nonce periods."""
    with urllib.request.urlopen(base + "/api/problems/invalid-token", timeout=10) as r:
        return r.headers.get("DPoP-Nonce") or ""


def browser_refresh_lines(tmp, tag, base, public, cookies):
    """A refresh as the browser makes it: the cookie of a DPoP-bound session (`bench-seed …
    dpop`) plus a fresh proof for POST `public`/api/auth/refresh carrying the server's current
    nonce, one per request, made before the run (wrk cannot sign) by as many keys as keep each
    under the server's 1,000 live proofs per key."""
    nonce = current_nonce(base)
    keys = len(cookies) // 900 + 1
    lines = subprocess.run([DPOP, "refresh", os.urandom(16).hex(), public + "/api/auth/refresh", str(keys),
                            str(int(time.time()))] + ([nonce] if nonce else []),
                           input="\n".join(cookies) + "\n", capture_output=True, text=True, check=True).stdout
    return write(os.path.join(tmp, f"{tag}-browser-refresh.txt"), lines)


def dpop_script(tmp, base):
    """A wrk script sending `/api/me` with DPoP-bound tokens, a fresh proof per request. The
    proofs are made before the run (wrk cannot sign) by many keys, since the server keeps at most
    1,000 live proof ids per key, and all dated now (the run ends well within their minute)."""
    keys = int(os.environ.get("BENCH_DPOP_KEYS", "160"))
    seed = os.urandom(16).hex()
    iat = str(int(time.time()))
    login_proofs = subprocess.run([DPOP, "login", seed, base + "/api/auth/login", str(keys), iat],
                                  capture_output=True, text=True, check=True).stdout.split()
    tokens = []
    for p in login_proofs:
        _, body = http("POST", base + "/api/auth/login", {"username": "bench_user", "password": PASSWORD},
                       headers={"DPoP": p})
        tokens.append(json.loads(body)["access_token"])
    per_key = min(900, 25000 * DURATION // keys + 1)
    nonce = current_nonce(base)
    lines = subprocess.run([DPOP, "proofs", seed, base + "/api/me", str(per_key), iat] + ([nonce] if nonce else []),
                           input="\n".join(tokens) + "\n", capture_output=True, text=True, check=True).stdout
    proof_file = write(os.path.join(tmp, "dpop-proofs.txt"), lines)
    return paired_script(os.path.join(tmp, "dpop-me.lua"), proof_file,
                         'wrk.format("GET", nil, {["Authorization"] = "DPoP " .. r[1], ["DPoP"] = r[2]}, nil)')


def paced_script(tmp, script, rate, conns, latency_ms=0.0):
    """`script` slowed, with wrk's `delay()`, to about `rate` req/s over `conns` connections: each
    connection waits between its requests so that its cycle (the wait plus the answer's
    `latency_ms`) is conns / rate. The wait is dithered between whole milliseconds (what wrk
    counts in), so its mean is the fractional target."""
    wait = max(conns * 1000.0 / rate - latency_ms, 0.0)
    with open(script) as f:
        body = f.read()
    return write(os.path.join(tmp, f"paced-{os.path.basename(script)}"), f"""
math.randomseed(os.time())
function delay()
  local whole = math.floor({wait})
  if math.random() < {wait} - whole then return whole + 1 end
  return whole
end
""" + body)


def at_rate(pid, tmp, url, script, rate, conns=64):
    """`script` on `url` at about `rate` req/s, with the server's CPU per request (`served`): one
    short calibration run finds the answer time per request, which the measured run's waits then
    leave out."""
    probe = wrk(url, paced_script(tmp, script, rate, conns), conns=conns, secs=2)
    latency = max(conns * 1000.0 / probe["rps"] - conns * 1000.0 / rate, 0.0)
    return served(pid, lambda: wrk(url, paced_script(tmp, script, rate, conns, latency), conns=conns,
                                   secs=min(DURATION, 5)))


def bench_user(base):
    http("POST", base + "/api/auth/signup", {"username": "bench_user", "password": PASSWORD})
    _, body = http("POST", base + "/api/auth/login", {"username": "bench_user", "password": PASSWORD})
    return json.loads(body)["access_token"]


SCENARIOS = ("healthz", "me", "refresh", "browser", "login")


def five(base, scripts):
    s_plain, s_me, s_refresh, s_browser, s_login = scripts
    return {
        "healthz": wrk(base + "/healthz", s_plain),
        "me": wrk(base + "/api/me", s_me),
        "refresh": wrk(base + "/api/auth/refresh", s_refresh),
        "browser": wrk(base + "/api/auth/refresh", s_browser),
        "login": logins(base, s_login),
    }


def argon2_limit(secs):
    """Password hashes per second through the server's own hasher, in process (bench-dpop)."""
    out = subprocess.run([DPOP, "argon2", "19456", str(secs)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([0-9.]+) hashes/s", out).group(1))


def logins(base, script):
    """The login run, with the argon2 limit measured just before and just after it ("limit",
    their mean): this machine's speed drifts by several percent over minutes, so only a limit
    taken around the run is its limit."""
    half = max(DURATION // 2, 2)
    before = argon2_limit(half)
    r = wrk(base + "/api/auth/login", script, conns=4)
    r["limit"] = (before + argon2_limit(half)) / 2
    return r


def seed(target, n_tokens, *extra):
    return subprocess.run([SEED, target, str(n_tokens), *extra], capture_output=True, text=True, check=True).stdout.split()


def pg_setup(tmp, admin, name, n_tokens):
    """A fresh database `name` on the PostgreSQL of `admin`, seeded with n_tokens sessions of
    each kind (plain, and DPoP-bound for the browser's refresh)."""
    subprocess.run(["psql", "-q", admin, "-c", f"CREATE DATABASE {name}"], check=True)
    url = admin.rsplit("/", 1)[0] + "/" + name
    return url, seed(url, n_tokens), seed(url, n_tokens, "dpop")


def start_on(tmp, name, port, url):
    """This build on PostgreSQL database `url`, behind a proxy's public origin."""
    return start_server(SERVER, tmp, name, port, CLOAKROOM_DATABASE_URL=url,
                        CLOAKROOM_PUBLIC_ORIGIN="http://cloakroom.bench", CLOAKROOM_TRUSTED_PROXIES="127.0.0.1")


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def engine_comparison(sqlite_rows, sqlite_peak, n_tokens):
    admin = os.environ.get("CLOAKROOM_TEST_POSTGRES_URL")
    if not admin:
        print("engine comparison skipped: no PostgreSQL (run `make bench`, which starts one)")
        return []
    if not shutil.which("nginx"):
        sys.exit("nginx is missing: run `make bench` (it installs it)")
    tmp = tempfile.mkdtemp(prefix="cloakroom-engines-")
    results = [("SQLite, 1 instance", sqlite_rows, [sqlite_peak])]
    procs = []
    public = "http://cloakroom.bench"
    try:
        print("PostgreSQL, 1 instance: seeding…", flush=True)
        url, tokens, bound = pg_setup(tmp, admin, "bench_one", n_tokens)
        server, base = start_on(tmp, "one", free_port(), url)
        procs = [server]
        browser = browser_refresh_lines(tmp, "pg1", base, public, bound)
        rows = five(base, scenario_scripts(tmp, "pg1", bench_user(base), tokens, browser))
        results.append(("PostgreSQL, 1 instance", rows, [rss_kib(server.pid, "VmHWM")]))
        stop(procs)

        print("PostgreSQL, 2 instances behind nginx: seeding…", flush=True)
        url, tokens, bound = pg_setup(tmp, admin, "bench_two", n_tokens)
        a, base_a = start_on(tmp, "a", free_port(), url)
        b, base_b = start_on(tmp, "b", free_port(), url)
        procs = [a, b]
        port = free_port()
        user_line = "user root;" if os.getuid() == 0 else ""
        conf = write(os.path.join(tmp, "nginx.conf"), f"""{user_line}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream cloakroom {{ server {base_a[7:]}; server {base_b[7:]}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://cloakroom; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-g", "daemon off;"])
        procs.append(nginx)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                http("GET", base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        browser = browser_refresh_lines(tmp, "pg2", base, public, bound)
        rows = five(base, scenario_scripts(tmp, "pg2", bench_user(base), tokens, browser))
        results.append(("PostgreSQL, 2 instances + nginx", rows, [rss_kib(a.pid, "VmHWM"), rss_kib(b.pid, "VmHWM")]))
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("engine comparison (same run; ratios against SQLite; 2 cores, so two instances share them)")
    print(f"{'':34} " + " ".join(f"{k:>16}" for k in ("healthz", "/api/me", "refresh", "refresh+DPoP", "login"))
          + "  peak RSS/instance")
    print(f"{'':34} " + " ".join(f"{'req/s   p99 ms':>16}" for _ in SCENARIOS))
    base_rows = results[0][1]
    for label, rows, peaks in results:
        cells = " ".join(f"{rows[k]['rps']:7.0f} {rows[k]['p99']:7.2f} " for k in SCENARIOS)
        print(f"{label:34} {cells} " + ", ".join(f"{p / 1024:.0f} MiB" for p in peaks))
        if rows is not base_rows:
            ratios = "  ".join(f"{k} {rows[k]['rps'] / base_rows[k]['rps']:.2f}x" for k in SCENARIOS)
            errors = sum(rows[k]["errors"] for k in rows)
            print(f"{'':34} {ratios}   non-2xx {errors}")
    goals = []
    one, two = results[1][1], results[2][1]
    b = one["browser"]
    goals.append(("1. refresh as the browser makes it / healthz, PostgreSQL x1",
                  f"{b['rps'] / one['healthz']['rps']:.3f}x ({b['rps']:.0f} / {one['healthz']['rps']:.0f} req/s)",
                  ">= 0.20x", b["rps"] / one["healthz"]["rps"] >= 0.20 and b["errors"] == 0))
    goals.append(("1. its p99, PostgreSQL x1", f"{b['p99']:.2f} ms", "< 20 ms", b["p99"] < 20))
    # Two instances on the same two cores cannot double anything; what is ours is refresh
    # losing more than the proxy and the shared cores cost everything else. So the goal: the
    # browser's refresh keeps at least the share of its one-instance rate that healthz keeps.
    keep_h = two["healthz"]["rps"] / one["healthz"]["rps"]
    keep_r = two["browser"]["rps"] / one["browser"]["rps"]
    goals.append(("5. PostgreSQL x2 + nginx / x1: refresh+DPoP kept",
                  f"{keep_r:.2f}x (healthz keeps {keep_h:.2f}x)", ">= healthz's", keep_r >= keep_h))
    # Logins at 0.9x or more of what argon2 allows on this machine, on every engine. The limit
    # is measured in process, through the server's own hasher, around each login run (`logins`).
    for label, rows, _ in results:
        login = rows["login"]
        goals.append((f"3. login / argon2 limit, {label}", f"{login['rps'] / login['limit']:.2f}x "
                      f"({login['rps']:.1f} / {login['limit']:.1f} per s)", ">= 0.90x",
                      login["rps"] / login["limit"] >= 0.9))
    return goals


def flood_run(binary, tmp, name):
    """/api/me and /healthz while FLOOD_CONNS connections post wrong logins as fast as they can."""
    server, base = start_server(binary, tmp, name, free_port())
    try:
        http("POST", base + "/api/auth/signup", {"username": "bench_user", "password": PASSWORD})
        _, body = http("POST", base + "/api/auth/login", {"username": "bench_user", "password": PASSWORD})
        access = json.loads(body)["access_token"]
        s_me = write(os.path.join(tmp, f"{name}-me.lua"), f'wrk.headers["Authorization"] = "Bearer {access}"\n' + REPORT_LUA)
        s_plain = write(os.path.join(tmp, f"{name}-plain.lua"), REPORT_LUA)
        s_flood = write(os.path.join(tmp, f"{name}-flood.lua"), FLOOD_LUA)
        flood = subprocess.Popen(
            ["wrk", "-t", "1", "-c", str(FLOOD_CONNS), "-d", f"{DURATION + 3}s", "--timeout", "10s", "-s", s_flood, base + "/api/auth/login"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # let the flood reach full strength (a load script, not a test)
        health = subprocess.Popen(
            ["wrk", "-t", "1", "-c", "2", "-d", f"{DURATION}s", "--timeout", "5s", "-s", s_plain, base + "/healthz"],
            stdout=subprocess.PIPE, text=True)
        me = wrk(base + "/api/me", s_me, conns=8, threads=1)
        h_out, _ = health.communicate()
        f_out, _ = flood.communicate()
        def parse(out):
            line = next(l for l in out.splitlines() if l.startswith("BENCH "))
            r = json.loads(line[6:])
            r["rps"] = r["requests"] / r["secs"]
            return r
        return {"me": me, "health": parse(h_out), "flood": parse(f_out), "peak": rss_kib(server.pid, "VmHWM")}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def print_flood(label, r):
    me, h, f = r["me"], r["health"], r["flood"]
    ok = lambda x: 100.0 * (x["requests"] - x["errors"]) / max(x["requests"], 1)
    print(f"{label:34} me ok {ok(me):6.2f}% of {me['requests']:6d}, p99 {me['p99']:8.2f} ms | "
          f"healthz ok {ok(h):6.2f}% | logins answered {f['requests']:6d} ({f['rps']:.0f}/s, "
          f"{f['errors']} non-2xx) | peak RSS {r['peak'] / 1024:.0f} MiB")


def main():
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make bench` (it installs it)")
    tmp = tempfile.mkdtemp(prefix="cloakroom-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Seed one distinct, valid refresh token per refresh request we may send, of each kind.
    n_tokens = 20000 * DURATION
    print(f"seeding {n_tokens} sessions, and as many DPoP-bound ones…", flush=True)
    data = os.path.join(tmp, "data")
    tokens = seed(data, n_tokens)
    bound = seed(data, n_tokens, "dpop")

    def start():
        return start_server(SERVER, tmp, "data", port)[0]

    server = start()
    rows = []
    phases = []

    def mark(name):
        phases.append((name, rss_kib(server.pid, "VmRSS"), rss_kib(server.pid, "VmHWM")))

    try:
        access = bench_user(base)
        s_plain, s_me, s_refresh, _, s_login = scenario_scripts(tmp, "sqlite", access, tokens, "/dev/null")
        mark("start")
        print("healthz…", flush=True)
        healthz = wrk(base + "/healthz", s_plain)
        rows.append(("GET /healthz (baseline)", healthz))
        mark("after healthz")
        print("me…", flush=True)
        me = served(server.pid, lambda: wrk(base + "/api/me", s_me))
        rows.append(("GET /api/me", me))
        mark("after me")
        print("me with DPoP…", flush=True)
        dpop_lua = dpop_script(tmp, base)
        # At most 5 s: the server remembers at most 100,000 live proof ids (a minute's), and
        # past that refuses proofs with 503 (`auth::dpop`), which 8 s at 17k req/s would reach.
        me_dpop = served(server.pid, lambda: wrk(base + "/api/me", dpop_lua, secs=min(DURATION, 5)))
        rows.append(("GET /api/me (DPoP proof each)", me_dpop))
        mark("after me with DPoP")
        # Bearer again, slowed to the DPoP run's rate: a server answering fewer requests a second
        # shares each wake-up and system call among fewer of them, so each costs more CPU
        # whatever it carries. Only against this run is the difference the proof's own cost.
        print("me, Bearer at the DPoP run's rate…", flush=True)
        me_matched = at_rate(server.pid, tmp, base + "/api/me", s_me, me_dpop["rps"])
        rows.append(("GET /api/me (Bearer, at DPoP's rate)", me_matched))
        # The server remembers at most 100,000 live proof ids (a minute's), which the run above
        # may have filled: the browser's refresh runs on a fresh process, same database.
        early_peak = rss_kib(server.pid, "VmHWM")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        server = start()
        mark("restart")
        print("refresh…", flush=True)
        refresh = served(server.pid, lambda: wrk(base + "/api/auth/refresh", s_refresh))
        rows.append(("POST /api/auth/refresh (no proof)", refresh))
        mark("after refresh")
        print("refresh as the browser makes it…", flush=True)
        s_browser = scenario_scripts(tmp, "sqlite", access, tokens,
                                     browser_refresh_lines(tmp, "sqlite", base, base, bound))[3]
        browser = served(server.pid, lambda: wrk(base + "/api/auth/refresh", s_browser))
        rows.append(("POST /api/auth/refresh (cookie+DPoP)", browser))
        mark("after browser refresh")
        print("login…", flush=True)
        login = logins(base, s_login)
        rows.append(("POST /api/auth/login", login))
        mark("after login")
        print("me during a login flood…", flush=True)
        flood = subprocess.Popen(["wrk", "-t", "1", "-c", "8", "-d", f"{DURATION + 2}s", "-s", s_login, base + "/api/auth/login"],
                                 stdout=subprocess.DEVNULL)
        time.sleep(1)
        me_flood = wrk(base + "/api/me", s_me, conns=8)
        flood.wait()
        rows.append(("GET /api/me during login flood", me_flood))
        mark("after flood")
        peak = max(early_peak, rss_kib(server.pid, "VmHWM"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'scenario':38} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'server CPU/req':>15}")
    for name, r in rows:
        cpu = f"{r['cpu_us']:10.1f} µs" if "cpu_us" in r else ""
        print(f"{name:38} {r['rps']:10.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:8d} {cpu:>15}")
    print()
    print("server memory: " + ", ".join(f"{n} {r / 1024:.0f}/{h / 1024:.0f} MiB (rss/peak)" for n, r, h in phases))
    print(f"me / healthz throughput ratio      {me['rps'] / healthz['rps']:.2f}   (target >= 0.60)")
    print(f"me with DPoP / healthz ratio       {me_dpop['rps'] / healthz['rps']:.2f}   (target >= 0.50)")
    # The server's own CPU per request (from /proc, so wrk's share of the two cores is not in
    # it), against one Ed25519 verify_strict measured in-process by bench-dpop in this run.
    cost = subprocess.run([DPOP, "cost", "3000"], capture_output=True, text=True, check=True).stdout
    verify_us = float(re.search(r"verify_strict \(one Ed25519 signature\)\s+([0-9.]+)", cost).group(1))
    overhead = me_dpop["cpu_us"] - me_matched["cpu_us"]
    print("in-process (bench-dpop cost):")
    print("".join("  " + l + "\n" for l in cost.splitlines()), end="")
    print(f"me p99 during login flood          {me_flood['p99']:.2f} ms (target < 20 ms)")
    goals = []
    for label, r in (("refresh as the browser makes it (cookie + proof with nonce)", browser),
                     ("refresh without a proof (second line)", refresh)):
        goals.append((f"1. {label} / healthz, SQLite",
                      f"{r['rps'] / healthz['rps']:.3f}x ({r['rps']:.0f} / {healthz['rps']:.0f} req/s)",
                      ">= 0.25x", r["rps"] / healthz["rps"] >= 0.25 and r["errors"] == 0))
        goals.append(("1. its p99, SQLite", f"{r['p99']:.2f} ms", "< 20 ms", r["p99"] < 20))
    goals.append(("2. DPoP overhead / one verify_strict",
                  f"{overhead:.1f} / {verify_us:.1f} µs = {overhead / verify_us:.2f}x (server CPU per request "
                  f"at {me_dpop['rps']:.0f} req/s: DPoP {me_dpop['cpu_us']:.1f}, Bearer {me_matched['cpu_us']:.1f} µs "
                  f"at {me_matched['rps']:.0f} req/s; Bearer at full speed {me['cpu_us']:.1f} µs, "
                  f"{(me_dpop['cpu_us'] - me['cpu_us']) / verify_us:.2f}x)",
                  "<= 1.25x", overhead / verify_us <= 1.25))
    # Under 64 MiB outside the login flood. The flood's own peak is set by argon2: each hash
    # thread holds m KiB (19 MiB by default) while it hashes, on top of the base.
    outside = max(h for n, _, h in phases if n in ("after me with DPoP", "after browser refresh"))
    threads = os.cpu_count() or 1
    goals.append(("4. server peak RSS outside logins", f"{outside / 1024:.1f} MiB", "< 64 MiB", outside / 1024 < 64))
    print(f"server peak RSS with logins        {peak / 1024:.1f} MiB: the base plus argon2's 19 MiB "
          f"x {threads} hash threads ({outside / 1024:.0f} + {19 * threads} = "
          f"{outside / 1024 + 19 * threads:.0f} MiB at most)")
    print()
    print(f"login flood: {FLOOD_CONNS} concurrent connections posting wrong logins, {DURATION} s")
    tmp2 = tempfile.mkdtemp(prefix="cloakroom-flood-")
    try:
        after = flood_run(SERVER, tmp2, "this")
        print_flood("this build", after)
        baseline = os.environ.get("BENCH_BASELINE_SERVER")
        if baseline:
            before = flood_run(baseline, tmp2, "baseline")
            print_flood("baseline build", before)
    finally:
        shutil.rmtree(tmp2, ignore_errors=True)
    for r, n in ((refresh, len(tokens)), (browser, len(bound))):
        if r["requests"] > n:
            print("WARNING: a refresh run used more requests than seeded tokens; raise the seed count")
    print()
    goals += engine_comparison({"healthz": healthz, "me": me, "refresh": refresh, "browser": browser, "login": login},
                               peak, int(os.environ.get("BENCH_PG_TOKENS", str(8000 * DURATION))))
    print()
    print(f"#21's goals, this run ({DURATION} s per scenario, {os.cpu_count()} cores):")
    for name, figure, target, held in goals:
        print(f"  {'held  ' if held else 'MISSED'} {name:62} {figure:52} target {target}")


if __name__ == "__main__":
    main()
