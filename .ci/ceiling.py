#!/usr/bin/env python3
"""What #21's goals 1 and 3 could reach at best on this machine (`make ceiling`).

Builds HEAD with .ci/ceiling.patch applied (in a throw-away git worktree, into
target/ceiling: never the product's build) and runs it beside the release build, in
alternating rounds, on the scenarios of those two goals:

- refresh as the browser makes it, against /healthz, on SQLite. The ceiling build with
  CEILING_REFRESH=no-storage does everything a refresh does (cookie, the proof checked and its
  id recorded, the access token signed, the successor worked out and set) except storage: no
  row read or written. Its ratio is what any storage design could reach if its rotations cost
  nothing at all.
- login, against the argon2 limit measured around each run, on the throw-away PostgreSQL of
  .ci/with-postgres (durable commits, on the same two cores, as in `make bench`). The ceiling
  build runs it twice: CEILING_LOGIN=no-budget (no guess budget reserved or settled: a login
  is the user's read plus its session's transaction) and CEILING_LOGIN=no-writes (the user's
  read only: no session written either).

Nothing here is a claim about a real build: each cut removes what the product must do. The
figures bound from above what any faster way of doing that work could reach.
"""
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import bench as B

ROOT = B.ROOT
TARGET = os.path.join(ROOT, "target", "ceiling")
ROUNDS = int(os.environ.get("CEILING_ROUNDS", "2"))
# 5 s, not the bench's 8: at the no-storage ceiling's ~13,000 refreshes a second, 8 s of fresh
# proofs would pass the 100,000 live proof ids a server remembers.
SECS = int(os.environ.get("CEILING_SECS", "5"))


def build():
    """The ceiling build of HEAD, in target/ceiling (kept: a second run builds incrementally)."""
    src = tempfile.mkdtemp(prefix="cloakroom-ceiling-")
    try:
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "--quiet", src, "HEAD"], check=True)
        subprocess.run(["git", "-C", src, "apply", os.path.join(ROOT, ".ci", "ceiling.patch")], check=True)
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "cloakroom-server", "--bin", "cloakroom"],
                       cwd=src, env=dict(os.environ, CARGO_TARGET_DIR=TARGET), check=True)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", src], check=False)
        shutil.rmtree(src, ignore_errors=True)
    return os.path.join(TARGET, "release", "cloakroom")


def refresh_run(binary, env):
    """/healthz, then the browser's refresh, on one fresh SQLite server; their ratio."""
    tmp = tempfile.mkdtemp()
    try:
        data = os.path.join(tmp, "d")
        bound = B.seed(data, 16000 * SECS, "dpop")
        server, base = B.start_server(binary, tmp, "d", B.free_port(), **env)
        try:
            scripts = B.scenario_scripts(tmp, "c", "none", [], B.browser_refresh_lines(tmp, "c", base, base, bound))
            h = B.wrk(base + "/healthz", scripts[0], secs=SECS)
            r = B.served(server.pid, lambda: B.wrk(base + "/api/auth/refresh", scripts[3], secs=SECS))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
        return h, r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def login_run(binary, env, admin, name):
    """Logins on a fresh PostgreSQL database, with the argon2 limit measured around the run."""
    tmp = tempfile.mkdtemp()
    try:
        subprocess.run(["psql", "-q", admin, "-c", f"CREATE DATABASE {name}"], check=True)
        url = admin.rsplit("/", 1)[0] + "/" + name
        server, base = B.start_server(binary, tmp, "d", B.free_port(), CLOAKROOM_DATABASE_URL=url, **env)
        try:
            B.bench_user(base)
            s_login = B.scenario_scripts(tmp, "c", "none", [], "/dev/null")[4]
            return B.logins(base, s_login)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    admin = os.environ.get("CLOAKROOM_TEST_POSTGRES_URL")
    if not admin:
        sys.exit("ceiling.py runs under .ci/with-postgres (make ceiling)")
    ceiling = build()
    refresh = [("release build", B.SERVER, {}),
               ("no storage", ceiling, {"CEILING_REFRESH": "no-storage"})]
    login = [("release build", B.SERVER, {}),
             ("no guess budget", ceiling, {"CEILING_LOGIN": "no-budget"}),
             ("no writes", ceiling, {"CEILING_LOGIN": "no-writes"})]
    ratios = collections.defaultdict(list)  # (goal, label) -> each round's ratio
    k = 0
    for r in range(ROUNDS):
        order = (lambda xs: xs) if r % 2 == 0 else (lambda xs: xs[::-1])
        for label, binary, env in order(refresh):
            h, b = refresh_run(binary, env)
            ratios[1, label].append(b["rps"] / h["rps"])
            print(f"round {r + 1}, refresh, {label}: {b['rps']:.0f} / healthz {h['rps']:.0f} = "
                  f"{b['rps'] / h['rps']:.3f}x, p99 {b['p99']:.1f} ms, {b['cpu_us']:.0f} us of server CPU, "
                  f"non-2xx {b['errors']}", flush=True)
        for label, binary, env in order(login):
            k += 1
            l = login_run(binary, env, admin, f"ceiling{k}")
            ratios[3, label].append(l["rps"] / l["limit"])
            print(f"round {r + 1}, login on PostgreSQL, {label}: {l['rps']:.1f} / limit {l['limit']:.1f} = "
                  f"{l['rps'] / l['limit']:.3f}x, non-2xx {l['errors']}", flush=True)
    mean = lambda xs: sum(xs) / len(xs)
    print(f"\nceilings ({ROUNDS} alternating rounds; refresh {SECS} s, login {B.DURATION} s; targets from #21)")
    for label, _, _ in refresh:
        print(f"  goal 1, refresh+DPoP / healthz, SQLite, {label:16} {mean(ratios[1, label]):.3f}x   (target >= 0.25x)")
    for label, _, _ in login:
        print(f"  goal 3, login / argon2 limit, PostgreSQL, {label:16} {mean(ratios[3, label]):.3f}x   (target >= 0.90x)")


if __name__ == "__main__":
    main()
