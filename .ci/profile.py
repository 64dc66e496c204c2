#!/usr/bin/env python3
"""A flame graph of the server under load on one endpoint (`make profile ENDPOINT=refresh`).

Starts the `profiling` build of the server (the release build plus line tables, so inlined
frames have names) on loopback with a throw-away database, drives ENDPOINT with wrk for
PROFILE_SECS seconds (bench.py's scripts: healthz, me, me-dpop, refresh, refresh-dpop (the
browser's refresh: cookie plus proof with the nonce), login), records the
server's stacks with `perf record --call-graph dwarf` meanwhile, and folds them with inferno
(crates.io) into an SVG a browser opens: target/profile/ENDPOINT.svg, or PROFILE_OUT. Prints
the run's rate beside the SVG's path. A measurement: it asserts nothing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the same scripts and server settings as `make bench`)

ROOT = bench.ROOT
PROFILED = os.path.join(ROOT, "target/profiling/cloakroom")
SEED = os.path.join(ROOT, "target/profiling/bench-seed")
DPOP = os.path.join(ROOT, "target/profiling/bench-dpop")
ENDPOINTS = ("healthz", "me", "me-dpop", "refresh", "refresh-dpop", "login")


def main():
    endpoint = os.environ.get("ENDPOINT", "refresh")
    if endpoint not in ENDPOINTS:
        sys.exit(f"ENDPOINT must be one of {', '.join(ENDPOINTS)}")
    secs = int(os.environ.get("PROFILE_SECS", "5"))
    out = os.environ.get("PROFILE_OUT") or os.path.join(ROOT, "target/profile", endpoint + ".svg")
    for tool in ("wrk", "perf", "inferno-collapse-perf", "inferno-flamegraph"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make profile` (it installs them)")
    bench.DURATION = secs
    bench.DPOP = DPOP
    tmp = tempfile.mkdtemp(prefix="cloakroom-profile-")
    try:
        port = bench.free_port()
        tokens, bound = [], []
        if endpoint.startswith("refresh"):
            # One distinct, valid refresh token per request, as `make bench` seeds them (of
            # DPoP-bound sessions for the browser's path).
            n = 20000 * secs
            extra = ["dpop"] if endpoint == "refresh-dpop" else []
            seeded = subprocess.run([SEED, os.path.join(tmp, "data"), str(n)] + extra, capture_output=True,
                                    text=True, check=True).stdout.split()
            (bound if extra else tokens).extend(seeded)
        server, base = bench.start_server(PROFILED, tmp, "data", port)
        try:
            access = bench.bench_user(base)
            browser = bench.browser_refresh_lines(tmp, "profile", base, base, bound) if bound else os.devnull
            s_plain, s_me, s_refresh, s_browser, s_login = bench.scenario_scripts(tmp, "profile", access, tokens,
                                                                                  browser)
            script, path, conns = {
                "healthz": (s_plain, "/healthz", 16),
                "me": (s_me, "/api/me", 16),
                "me-dpop": (None, "/api/me", 16),
                "refresh": (s_refresh, "/api/auth/refresh", 16),
                "refresh-dpop": (s_browser, "/api/auth/refresh", 16),
                "login": (s_login, "/api/auth/login", 4),
            }[endpoint]
            if endpoint == "me-dpop":
                script = bench.dpop_script(tmp, base)
            data = os.path.join(tmp, "perf.data")
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384",
                                     "-p", str(server.pid), "-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            run = bench.wrk(base + path, script, conns=conns, secs=secs)
            perf.send_signal(bench.signal.SIGINT)
            perf.wait(timeout=120)
        finally:
            bench.stop([server])
        print(f"{endpoint}: {run['rps']:.0f} req/s, p99 {run['p99']:.2f} ms under perf "
              f"({secs} s, {conns} connections)")
        script_out = subprocess.run(["perf", "script", "-i", data], capture_output=True, check=True).stdout
        folded = subprocess.run(["inferno-collapse-perf"], input=script_out, capture_output=True,
                                check=True).stdout
        svg = subprocess.run(["inferno-flamegraph", "--title", f"cloakroom: {endpoint} under wrk",
                              "--width", "1600", "--minwidth", "2"], input=folded, capture_output=True, check=True).stdout
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(svg)
        with open(os.path.splitext(out)[0] + ".folded", "wb") as f:
            f.write(folded)
        print(f"flame graph: {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
