#!/usr/bin/env python3
"""The daemon's Redis Streams path, end to end: watch latency and import throughput with and
without `[redis]`, and the time events spend going through the stream.

Usage:
  bench_redis.py [--rate 50] [--duration 20] [--kib 32] [--repeats 3] [--settle-ms 500]
                 [--files 2000] [--import-kib 32] [--only latency|import] [--alice PATH]
                 [--redis-server PATH] [--seed 42] [--keep]

The script starts its own `redis-server` (loopback, a free port, a fresh data dir under
/var/tmp, AOF with `appendfsync always`, no RDB) and stops it at the end. Each run uses its own
stream prefix, so runs never see each other's entries.

latency  As `bench_watch.py latency`: `alice run` (copy mode) watches an empty inbox with 10
         project folders; the script writes unique JPEGs (camera.jpg plus random trailing
         bytes, log-normal sizes around --kib KiB) at --rate files/s for --duration s, records
         time.time() right after each close(), and matches the daemon's "organized" log records
         (timestamped on arrival) to files by `path`. Latency = arrival - close; nothing is
         subtracted (settle_ms is inside it). Three configurations, alternated in each repeat:
           embedded  no [redis]
           redis     [redis], every stage in the daemon (each also reads its consumer group)
           worker    [redis] with workers = ["metadata"], plus one `alice worker metadata`
         For redis and worker, the stream is read back afterwards (redis-cli --raw XRANGE) and
         each asset's `alice.asset.discovered.v1` event `time` is paired with its
         `alice.asset.organized.v1` event `time` (by correlationid): "through Redis" below. The
         same gap between the two entries' stream ids (Redis's own clock, ms) is shown beside it.
         The catalog (state_dir/catalog.sqlite3, read-only after the daemon stopped) gives the
         same discovered→organized gap for every configuration: the in-process baseline for
         embedded, and a cross-check of the stream read-back for the other two.
import   A corpus from make_bench_corpus.py (--files files, half JPEG half PNG, log-normal
         around --import-kib KiB, seed 42) is organized by `alice scan` (copy mode, fresh
         organized tree and state each time) without and with [redis] (every stage in process),
         alternated (A B, B A, A B, ...) on a warm page cache; wall time from spawn to exit.
Medians and min-max over the repeats are printed, then one summary table.
"""
import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_watch import FIX, ROOT, Daemon, child_env, make_jpegs, parse_ts, pct, run_scan, SUMMARY, spread, startup_walked, write_paced  # noqa: E402

CONFIGS = ("embedded", "redis", "worker")
STREAM_ID = re.compile(r"^(\d+)-(\d+)$")


def load():
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# ----- redis-server ----------------------------------------------------------------------------

class RedisServer:
    """A private redis-server on a free loopback port, with AOF fsynced on every write."""

    def __init__(self, binary, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        for _ in range(5):
            self.port = free_port()
            self.argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                         "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                         "--daemonize", "no", "--protected-mode", "yes"]
            self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                if self.cli("PING", check=False).strip() == "PONG":
                    return
                time.sleep(0.1)
            self.stop()  # most likely the port was taken between probe and bind: try another
        sys.exit(f"redis-server did not start; see {self.dir}/redis.log")

    def cli(self, *args, check=True):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw", *args],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            sys.exit(f"redis-cli {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_stream(redis, key):
    """Every CloudEvents JSON in the stream, with its entry id's milliseconds.

    `--raw XRANGE` prints each entry as its id then field/value lines; events are compact JSON
    (one line), so the event of an entry is the JSON line that follows its id.
    """
    out, ms = [], None
    for line in redis.cli("XRANGE", key, "-", "+").splitlines():
        m = STREAM_ID.match(line)
        if m:
            ms = int(m.group(1))
        elif line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and "specversion" in ev:
                out.append((ms, ev))
    return out


def group_pending(redis, key):
    """{group: entries pending} from XINFO GROUPS (flat name/value lines with --raw)."""
    lines = redis.cli("XINFO", "GROUPS", key, check=False).splitlines()
    groups, cur = {}, None
    for k, v in zip(lines[0::2], lines[1::2]):
        if k == "name":
            cur = v
        elif k == "pending" and cur is not None:
            groups[cur] = int(v)
    return groups


# ----- configs and processes -------------------------------------------------------------------

def write_config(path, work, settle_ms, kind, redis, prefix):
    inbox, org, state = (os.path.join(work, d) for d in ("inbox", "organized", "state"))
    text = (f'inboxes = ["{inbox}"]\norganized = "{org}"\nmode = "copy"\nstate_dir = "{state}"\n'
            f'[watch]\nsettle_ms = {settle_ms}\n')
    if kind in ("redis", "worker"):
        text += f'[redis]\nurl = "{redis.url()}"\nprefix = "{prefix}"\nconsumer = "bench"\n'
        if kind == "worker":
            text += 'workers = ["metadata"]\n'
    with open(path, "w") as f:
        f.write(text)
    return text


def start_worker(alice, config, work):
    """`alice worker metadata`; returns once it logs "worker running"."""
    out_path = os.path.join(work, "worker.stdout")
    out = open(out_path, "w")
    err = open(os.path.join(work, "worker.stderr"), "w")
    proc = subprocess.Popen([alice, "worker", "metadata", "--config", config, "--log-format", "json"],
                            stdout=out, stderr=err, env=child_env())
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        if '"worker running"' in open(out_path).read():
            return proc, out, err
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"alice worker metadata did not start (exit {proc.poll()}); see {work}/worker.*")


def stop_worker(proc, out, err):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        print("  !! alice worker did not exit within 60 s of SIGTERM; killed", flush=True)
    out.close()
    err.close()
    return rc


def notable(records, who):
    """WARN and ERROR records, as short strings."""
    out = []
    for rec in records:
        if rec.get("level") in ("WARN", "ERROR") or rec.get("unparsed"):
            extra = {k: v for k, v in rec.items() if k not in ("timestamp", "level", "message", "target", "threadName", "threadId")}
            out.append(f"{who} {rec.get('level')}: {rec.get('message')} {json.dumps(extra)[:300]}")
    return out


def json_lines(path):
    recs = []
    with open(path) as f:
        for raw in f:
            try:
                recs.append(json.loads(raw))
            except ValueError:
                if raw.strip():
                    recs.append({"message": raw.rstrip(), "unparsed": True})
    return recs


def catalog_gaps(path):
    """Sorted ms from each discovered event's `time` to its organized event's, from the catalog."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT type, event_id, correlation_id, time FROM events WHERE type IN "
                          "('alice.asset.discovered.v1', 'alice.asset.organized.v1')").fetchall()
    finally:
        db.close()
    disc = {eid: parse_ts(t) for typ, eid, _, t in rows if typ == "alice.asset.discovered.v1"}
    out = []
    for typ, _, cid, t in rows:
        if typ == "alice.asset.organized.v1" and disc.get(cid) is not None and parse_ts(t) is not None:
            out.append((parse_ts(t) - disc[cid]) * 1000)
    return sorted(out)


# ----- 1. latency ------------------------------------------------------------------------------

def latency_run(a, alice, redis, kind, rep, commands):
    work = tempfile.mkdtemp(prefix=f"alice-redis-lat-{kind}.", dir="/var/tmp")
    try:
        inbox = os.path.join(work, "inbox")
        folders = [os.path.join(inbox, f"project-{k:02d}") for k in range(10)]
        for d in folders:
            os.makedirs(d)
        config = os.path.join(work, "alice.toml")
        prefix = f"bench-{kind}-{rep}"
        text = write_config(config, work, a.settle_ms, kind, redis, prefix)
        commands.setdefault(f"latency {kind}", (text, [f"alice run --config {config} --log-format json"]
                                                 + ([f"alice worker metadata --config {config} --log-format json"] if kind == "worker" else [])))
        n = int(a.rate * a.duration)
        rng = random.Random(f"{a.seed}-{rep}")  # same files for every configuration of a repeat
        files = make_jpegs(rng, n, folders, a.kib)

        load_before = load()
        d = Daemon(alice, config, work, "run")
        if d.wait_for(startup_walked, 60) is None:
            rc, _ = d.stop()
            sys.exit(f"alice run did not finish its startup scan (exit {rc}); see {work}/run.stderr")
        worker = start_worker(alice, config, work) if kind == "worker" else None
        time.sleep(1.0)
        closed, behind, drain_s, real_rate = write_paced(d, files, a.rate, a.settle_ms)
        worker_rc = stop_worker(*worker) if worker else None
        t_stop = time.time()
        rc, stopped = d.stop()
        stop_s = time.time() - t_stop
        if a.keep:
            with open(os.path.join(work, "run.stdout.jsonl"), "w") as f:
                f.writelines(json.dumps(rec) + "\n" for _, rec in d.lines)

        arr = sorted((d.organized[p][0] - tc) * 1000 for p, tc in closed.items() if p in d.organized)
        # When in the run the slowest files were dropped: a tail at the start is warm-up, a tail
        # spread over the run is steady-state behaviour.
        first = min(closed.values(), default=0.0)
        slow = sorted(((d.organized[p][0] - tc) * 1000, tc - first) for p, tc in closed.items() if p in d.organized)[-5:]
        r = {"kind": kind, "files": n, "matched": len(arr), "exit": rc, "worker_exit": worker_rc,
             "p50": pct(arr, 50), "p99": pct(arr, 99), "max": arr[-1] if arr else float("nan"),
             "slowest": ", ".join(f"{ms:.0f} ms at {at:.1f} s" for ms, at in reversed(slow)),
             "writer_behind_ms": behind * 1000, "drain_s": drain_s, "stop_s": stop_s, "load_before": load_before,
             "load_after": load(),
             "real_rate": real_rate}
        warn = []
        if len(arr) != n:
            missing = sorted(set(closed) - set(d.organized))
            warn.append(f"only {len(arr)}/{n} files were reported organized; first missing: {missing[:3]}")
        if rc != 0:
            warn.append(f"alice run exit code {rc}")
        if worker_rc not in (None, 0):
            warn.append(f"alice worker exit code {worker_rc}")
        if not stopped or stopped.get("organized") != n:
            warn.append(f"stopped record says organized={stopped and stopped.get('organized')}, expected {n}")
        warn += notable([rec for _, rec in d.lines], "daemon")
        if worker:
            warn += notable(json_lines(os.path.join(work, "worker.stdout")), "worker")

        # The same gap from the catalog, for every configuration: the in-process baseline for (a),
        # and a cross-check of what was read back from the stream for (b) and (c).
        gaps = catalog_gaps(os.path.join(work, "state", "catalog.sqlite3"))
        r.update({"c_n": len(gaps), "c_p50": pct(gaps, 50), "c_p99": pct(gaps, 99),
                  "c_max": gaps[-1] if gaps else float("nan")})
        if len(gaps) != n:
            warn.append(f"catalog pairs discovered→organized for {len(gaps)}/{n} files")
        if kind != "embedded":
            key = f"{prefix}:events"
            evs = read_stream(redis, key)
            discovered, organized = {}, {}
            counts = {}
            for ms, ev in evs:
                t = ev.get("type")
                counts[t] = counts.get(t, 0) + 1
                if t == "alice.asset.discovered.v1":
                    discovered[ev.get("id")] = (ms, parse_ts(ev.get("time")))
                elif t == "alice.asset.organized.v1":
                    organized[ev.get("correlationid")] = (ms, parse_ts(ev.get("time")))
            through, by_id = [], []
            for cid, (ms_o, t_o) in organized.items():
                got = discovered.get(cid)
                if got and got[1] is not None and t_o is not None:
                    through.append((t_o - got[1]) * 1000)
                    by_id.append(ms_o - got[0])
            through.sort()
            by_id.sort()
            r.update({"through_n": len(through), "t_p50": pct(through, 50), "t_p99": pct(through, 99),
                      "t_max": through[-1] if through else float("nan"),
                      "id_p50": pct(by_id, 50), "id_p99": pct(by_id, 99),
                      "stream_len": len(evs), "types": counts})
            if through != gaps:
                warn.append("discovered→organized gaps read from the stream differ from the catalog's")
            if len(through) != n:
                warn.append(f"stream pairs discovered→organized for {len(through)}/{n} files; types {counts}")
            pending = group_pending(redis, key)
            if any(pending.values()):
                warn.append(f"entries still pending after stop: {pending}")
            dead = redis.cli("XLEN", f"{prefix}:dead").strip()
            if dead not in ("", "0"):
                warn.append(f"{dead} entries in {prefix}:dead")
            redis.cli("DEL", key, f"{prefix}:dead")
        r["warn"] = warn
        return r
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def cmd_latency(a, alice, redis, commands):
    runs = {k: [] for k in CONFIGS}
    for rep in range(a.repeats):
        # Rotate the order, so no configuration always runs first or last in a repeat.
        order = CONFIGS[rep % 3:] + CONFIGS[:rep % 3]
        for kind in order:
            r = latency_run(a, alice, redis, kind, rep, commands)
            runs[kind].append(r)
            line = (f"latency {kind:8} run {rep + 1}: {r['matched']}/{r['files']} organized, drop→organized "
                    f"p50 {r['p50']:.0f} p99 {r['p99']:.0f} max {r['max']:.0f} ms")
            line += f" | discovered→organized (catalog) p50 {r['c_p50']:.1f} p99 {r['c_p99']:.1f} max {r['c_max']:.1f} ms"
            if kind != "embedded":
                line += (f" | through Redis (event time) p50 {r['t_p50']:.1f} p99 {r['t_p99']:.1f} "
                         f"max {r['t_max']:.1f} ms, (entry ids) p50 {r['id_p50']} p99 {r['id_p99']} ms, "
                         f"{r['stream_len']} entries")
            line += f" | slowest {r['slowest']}"
            line += (f" | writer {r['real_rate']:.1f}/s (max {r['writer_behind_ms']:.0f} ms behind), "
                     f"drain {r['drain_s']:.1f} s, SIGTERM→exit {r['stop_s']:.1f} s, load {r['load_before']} → {r['load_after']}, exit {r['exit']}"
                     + ("" if r["worker_exit"] is None else f"/{r['worker_exit']}"))
            print(line + "".join(f"\n  !! {w}" for w in r["warn"]), flush=True)
    return runs


# ----- 2. import -------------------------------------------------------------------------------

def cmd_import(a, alice, redis, commands):
    work = tempfile.mkdtemp(prefix="alice-redis-import.", dir="/var/tmp")
    try:
        corpus = os.path.join(work, "inbox")
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_corpus.py"), corpus,
                        "--files", str(a.files), "--mean-kib", str(a.import_kib), "--seed", str(a.seed)],
                       check=True, stdout=subprocess.DEVNULL)
        total = 0
        for dp, _, fs in os.walk(corpus):
            for fn in fs:
                with open(os.path.join(dp, fn), "rb") as f:  # warm the page cache
                    total += len(f.read())
        print(f"import corpus: {a.files} files, {total / 1e6:.1f} MB (make_bench_corpus.py --mean-kib {a.import_kib})", flush=True)
        runs = {"embedded": [], "redis": []}
        for rep in range(a.repeats):
            order = ("embedded", "redis") if rep % 2 == 0 else ("redis", "embedded")
            for kind in order:
                for sub in ("organized", "state"):
                    shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
                subprocess.run(["sync"], check=True)
                config = os.path.join(work, f"{kind}.toml")
                prefix = f"bench-import-{rep}"
                text = write_config(config, work, a.settle_ms, kind, redis, prefix)
                commands.setdefault(f"import {kind}", (text, [f"alice scan --config {config} --log-format json"]))
                lb = load()
                r = run_scan(alice, config, work, f"scan-{kind}-{rep}")
                r["load"] = (lb, load())
                warn = []
                if r["organized"] != a.files or r["failed"]:
                    warn.append(f"organized {r['organized']}, failed {r['failed']}, expected {a.files} organized")
                recs = json_lines(os.path.join(work, f"scan-{kind}-{rep}.stdout"))
                # The closing summary is plain text by design; anything else unparsed is news.
                warn += notable([x for x in recs if not (x.get("unparsed") and SUMMARY.search(x["message"]))], "scan")
                if kind == "redis":
                    key = f"{prefix}:events"
                    r["stream_len"] = int(redis.cli("XLEN", key).strip() or 0)
                    pending = group_pending(redis, key)
                    if any(pending.values()):
                        warn.append(f"entries still pending after the scan: {pending}")
                    redis.cli("DEL", key, f"{prefix}:dead")
                runs[kind].append(r)
                print(f"import {kind:8} run {rep + 1}: wall {r['wall']:.2f} s, {a.files / r['wall']:.0f} files/s "
                      f"(alice reports {r['reported_s']:.2f} s; organized {r['organized']}, hashed {r['hashed']}"
                      + (f"; {r['stream_len']} stream entries" if kind == "redis" else "")
                      + f"), load {lb} → {r['load'][1]}" + "".join(f"\n  !! {w}" for w in warn), flush=True)
        return runs, total
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


# ----- main ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alice", default=os.path.join(ROOT, "target", "release", "alice"))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--only", choices=["latency", "import"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--settle-ms", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate", type=float, default=50.0, help="files per second (latency)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of writing per latency run")
    ap.add_argument("--kib", type=int, default=32, help="mean file size of the latency runs")
    ap.add_argument("--files", type=int, default=2000, help="files in the import corpus")
    ap.add_argument("--import-kib", type=int, default=32, help="mean file size of the import corpus")
    ap.add_argument("--keep", action="store_true", help="keep the work dirs")
    a = ap.parse_args()
    if not os.access(a.alice, os.X_OK):
        sys.exit(f"no alice binary at {a.alice}; build it: cargo build --release -p alice")
    if not shutil.which("redis-cli"):
        sys.exit("redis-cli not found (Debian package redis-tools)")
    work = tempfile.mkdtemp(prefix="alice-redis-bench.", dir="/var/tmp")
    redis = None
    try:
        # A private copy, so a concurrent `cargo build` cannot replace the binary mid-run.
        alice = os.path.join(work, "alice")
        shutil.copy2(a.alice, alice)
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(a.alice)))
        version = subprocess.run([a.redis_server, "--version"], capture_output=True, text=True).stdout.split()[2]
        redis = RedisServer(a.redis_server, work)
        load_start = load()
        print(f"machine: nproc {os.cpu_count()}, {model}; HEAD {commit}, binary built {built}; redis-server {version}; "
              f"load average at start {load_start}", flush=True)
        print("redis: " + " ".join(x if x else "''" for x in redis.argv), flush=True)
        print(f"bench: {' '.join(sys.argv)}", flush=True)
        commands = {}
        lat = imp = None
        if a.only in (None, "latency"):
            lat = cmd_latency(a, alice, redis, commands)
        if a.only in (None, "import"):
            imp = cmd_import(a, alice, redis, commands)
        load_end = load()

        print("\nconfigs and commands (paths are per-run temp dirs):")
        for name, (text, cmds) in commands.items():
            print(f"  [{name}]\n" + "".join(f"    $ {c}\n" for c in cmds) + "".join(f"    | {l}\n" for l in text.splitlines()), end="")
        print(f"\nsummary: median (min–max) over {a.repeats} repeats; load average {load_start} at start, {load_end} at end")
        if lat:
            print(f"\n| latency, {a.rate:g} files/s for {a.duration:g} s, settle_ms {a.settle_ms} | drop→organized p50 ms | p99 ms | max ms | discovered→organized event time p50 ms | p99 ms | max ms |")
            print("|---|---|---|---|---|---|---|")
            for kind in CONFIGS:
                rs = lat[kind]
                row = [spread([r[k] for r in rs], "{:.0f}") for k in ("p50", "p99", "max")]
                keys = ("c_p50", "c_p99", "c_max") if kind == "embedded" else ("t_p50", "t_p99", "t_max")
                row += [spread([r[k] for r in rs], "{:.1f}") for k in keys]
                label = {"embedded": "(a) no [redis]", "redis": "(b) [redis], all stages in the daemon",
                         "worker": "(c) [redis], metadata in `alice worker`"}[kind]
                print(f"| {label} | " + " | ".join(row) + " |")
            print("(event-time gaps: (a) from the catalog, (b) and (c) read back from the Redis stream)")
        if imp:
            runs, total = imp
            med = {k: statistics.median([r["wall"] for r in v]) for k, v in runs.items()}
            print(f"\n| import, `alice scan` copy, {a.files} files, {total / 1e6:.0f} MB | wall s | files/s (at median) |")
            print("|---|---|---|")
            for kind, label in (("embedded", "no [redis]"), ("redis", "[redis], all stages in process")):
                print(f"| {label} | {spread([r['wall'] for r in runs[kind]], '{:.2f}')} | {a.files / med[kind]:.0f} |")
            print(f"\nimport: [redis] takes {med['redis'] / med['embedded']:.2f}× the time of no [redis] "
                  f"({a.files / med['redis']:.0f} vs {a.files / med['embedded']:.0f} files/s, medians)")
    finally:
        if redis:
            redis.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
