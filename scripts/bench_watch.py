#!/usr/bin/env python3
"""Daemon benchmarks: watch latency, RSS while watching a large inbox, restart reconciliation.

Usage:
  bench_watch.py latency [--rates 100,10] [--duration 25] [--kib 32] [--repeats 3]
  bench_watch.py big [--files 100000] [--folders 5000] [--repeats 3] [--no-cold]
  bench_watch.py all   (both, default sizes)
Common: [--alice PATH] [--seed 42] [--settle-ms 500] [--keep]

latency  `alice run` (copy mode, settle_ms 500) watches an empty inbox; the script writes unique
         JPEGs (the camera.jpg fixture plus random trailing bytes, log-normal sizes around
         --kib KiB) at a fixed rate into 10 pre-created project folders, each file opened,
         written and closed at its final name, and records time.time() right after close(). A
         reader thread timestamps every log line from the daemon's stdout on arrival
         (time.time()) and matches "organized" records to files by their `path` field.
         Latency = arrival - close. The daemon's own record timestamp is reported beside it.
big      makes --files tiny valid PNGs (1x1 pixel, a private chunk of 12 random bytes: ~100
         bytes each) in --folders folders; `alice scan` organizes them once (reported), then:
         restart   `alice scan` again, which must report 0 files hashed and every file known by
                   identity; wall time from spawn to exit, warm page cache, and cold (after
                   `sync; echo 3 > /proc/sys/vm/drop_caches`, needs root) unless --no-cold;
         rss       `alice run` over the same inbox; once the startup scan has walked the inbox
                   and the process has been idle (under 2 % of a CPU) for 2 s, VmRSS and VmHWM
                   from /proc/PID/status and the inotify watch count from /proc/PID/fdinfo.
Each measurement is repeated --repeats times; medians and min-max are printed. The alice binary
is copied into the work dir first so a concurrent rebuild cannot swap it mid-run. Work dirs are
made under /var/tmp and removed at the end (unless --keep). Same arguments, same bytes.
"""
import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
FIX = os.path.join(ROOT, "crates", "metadata", "tests", "fixtures", "media")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----- helpers ---------------------------------------------------------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(unique: bytes) -> bytes:
    """A valid 1x1 greyscale PNG with a private ancillary chunk that makes it unique."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x80")
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"prVt", unique)
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def pct(sorted_xs, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(1, math.ceil(p / 100 * len(sorted_xs)))
    return sorted_xs[k - 1]



def make_jpegs(rng, n, folders, kib):
    """n unique JPEGs (the camera fixture plus random bytes, log-normal sizes around kib KiB),
    spread over the folders: (path, bytes) pairs, not yet written."""
    jpeg = open(os.path.join(FIX, "camera.jpg"), "rb").read()
    files = []
    for i in range(n):
        size = int(kib * 1024 * math.exp(rng.gauss(0, 0.6) - 0.18))
        files.append((os.path.join(folders[i % 10], f"IMG_{i:06d}.jpg"), jpeg + rng.randbytes(max(size, 64))))
    return files


def write_paced(d, files, rate, settle_ms):
    """Writes files at `rate` per second (each opened, written, closed at its final name) and
    waits for the stragglers: all organized, or settle + 30 s after the last close. Returns
    the close times by path, how far the writer fell behind (s), the drain time (s) and the
    rate actually achieved (files/s)."""
    closed = {}
    t0 = time.time() + 0.1
    behind = 0.0
    for i, (path, data) in enumerate(files):
        due = t0 + i / rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            behind = max(behind, -wait)
        with open(path, "wb") as f:
            f.write(data)
        closed[path] = time.time()
    t_last = time.time()
    n = len(files)
    real_rate = (n - 1) / (t_last - t0) if n > 1 and t_last > t0 else float("nan")
    with d.cond:
        while len(d.organized) < n and time.time() < t_last + settle_ms / 1000 + 30:
            d.cond.wait(0.5)
    return closed, behind, time.time() - t_last, real_rate

def spread(xs, fmt="{:.1f}"):
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    return (fmt.format(statistics.median(xs)) + " (" + fmt.format(min(xs)) + "–" + fmt.format(max(xs)) + ")")


RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_ts(s):
    """RFC 3339 to epoch seconds (keeps microseconds; fromisoformat in 3.11 rejects 9 digits)."""
    m = RFC3339.match(s or "")
    if not m:
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    from datetime import datetime
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}").timestamp()


def write_config(path, inbox, organized, state, settle_ms):
    with open(path, "w") as f:
        f.write(f'inboxes = ["{inbox}"]\norganized = "{organized}"\nmode = "copy"\n'
                f'state_dir = "{state}"\n[watch]\nsettle_ms = {settle_ms}\n')


def child_env():
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    return env


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def inotify_watches(pid):
    n = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                n += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


class Daemon:
    """`alice run` with a reader thread on its JSON log stream."""

    def __init__(self, alice, config, workdir, tag):
        self.lines = []  # (arrival time, record)
        self.organized = {}  # path -> (arrival, daemon timestamp)
        self.cond = threading.Condition()
        self.stderr = open(os.path.join(workdir, f"{tag}.stderr"), "w")
        self.t_spawn = time.time()
        self.proc = subprocess.Popen([alice, "run", "--config", config, "--log-format", "json"],
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=child_env())
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            now = time.time()
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = {"message": raw.decode(errors="replace").rstrip(), "unparsed": True}
            with self.cond:
                self.lines.append((now, rec))
                if rec.get("message") == "organized":
                    self.organized[rec.get("path")] = (now, parse_ts(rec.get("timestamp")))
                self.cond.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred(lines) holds; returns the arrival time of the first match or None."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for now, rec in self.lines:
                    if pred(rec):
                        return now
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))

    def stop(self, timeout=60):
        """SIGTERM; returns (exit code, the final "stopped" record)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            print(f"  !! alice run did not exit within {timeout} s of SIGTERM; killed", flush=True)
        self.reader.join(10)
        self.stderr.close()
        stopped = next((r for _, r in reversed(self.lines) if r.get("message") == "stopped"), None)
        return rc, stopped


def startup_walked(rec):
    return rec.get("message") == "scan walked the inbox" and rec.get("reason") == "Startup"


# ----- 1. watch latency ------------------------------------------------------------------------

def latency_run(a, alice, rate, rep):
    work = tempfile.mkdtemp(prefix="alice-watch-lat.", dir="/var/tmp")
    try:
        inbox, org, state = (os.path.join(work, d) for d in ("inbox", "organized", "state"))
        folders = [os.path.join(inbox, f"project-{k:02d}") for k in range(10)]
        for d in folders:
            os.makedirs(d)
        config = os.path.join(work, "alice.toml")
        write_config(config, inbox, org, state, a.settle_ms)
        n = int(rate * a.duration)
        rng = random.Random(f"{a.seed}-{rate}-{rep}")
        files = make_jpegs(rng, n, folders, a.kib)

        d = Daemon(alice, config, work, "run")
        if d.wait_for(startup_walked, 60) is None:
            rc, _ = d.stop()
            sys.exit(f"alice run did not finish its startup scan (exit {rc}); see {work}/run.stderr")
        time.sleep(1.0)
        closed, behind, drain_s, real_rate = write_paced(d, files, rate, a.settle_ms)
        rc, stopped = d.stop()
        arr, own = [], []
        for path, tc in closed.items():
            got = d.organized.get(path)
            if got:
                arr.append((got[0] - tc) * 1000)
                if got[1] is not None:
                    own.append((got[1] - tc) * 1000)
        arr.sort()
        own.sort()
        counters = {k: stopped.get(k) for k in ("organized", "files_hashed", "identity_cache_hits", "failed")} if stopped else None
        r = {
            "rate": rate, "files": n, "matched": len(arr), "exit": rc, "stopped": counters,
            "p50": pct(arr, 50), "p99": pct(arr, 99), "max": arr[-1] if arr else float("nan"),
            "own_p50": pct(own, 50), "own_p99": pct(own, 99), "own_max": own[-1] if own else float("nan"),
            "writer_behind_ms": behind * 1000, "drain_s": drain_s,
            "real_rate": real_rate,
        }
        warn = []
        if len(arr) != n:
            warn.append(f"only {len(arr)}/{n} files were reported organized")
        if rc != 0:
            warn.append(f"exit code {rc}")
        if not stopped or stopped.get("organized") != n:
            warn.append(f"stopped record says organized={stopped and stopped.get('organized')}, expected {n}")
        r["warn"] = warn
        return r
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def cmd_latency(a, alice):
    target = a.settle_ms + 50
    summary = []
    for rate in a.rates:
        runs = []
        for rep in range(a.repeats):
            r = latency_run(a, alice, rate, rep)
            runs.append(r)
            print(f"latency rate={rate}/s run {rep + 1}: {r['matched']}/{r['files']} organized, "
                  f"arrival p50 {r['p50']:.0f} ms p99 {r['p99']:.0f} ms max {r['max']:.0f} ms | "
                  f"daemon-stamp p50 {r['own_p50']:.0f} p99 {r['own_p99']:.0f} max {r['own_max']:.0f} | "
                  f"writer {r['real_rate']:.1f}/s (max {r['writer_behind_ms']:.0f} ms behind) | "
                  f"exit {r['exit']} stopped {r['stopped']}"
                  + ("".join(f"\n  !! {w}" for w in r["warn"])), flush=True)
        p99s = [r["p99"] for r in runs]
        print(f"latency rate={rate}/s over {a.repeats} runs (median (min–max), ms): "
              f"p50 {spread([r['p50'] for r in runs], '{:.0f}')}, p99 {spread(p99s, '{:.0f}')}, "
              f"max {spread([r['max'] for r in runs], '{:.0f}')}; daemon-stamp p99 "
              f"{spread([r['own_p99'] for r in runs], '{:.0f}')}; target p99 <= {target} ms: "
              + ("met" if statistics.median(p99s) <= target else
                 f"MISSED by {statistics.median(p99s) - target:.0f} ms (median)"), flush=True)
        summary.append((rate, runs))
    return summary


# ----- 2 and 3. large inbox: restart reconciliation and RSS ------------------------------------

def make_tree(inbox, files, folders, seed):
    rng = random.Random(seed)
    t0 = time.time()
    dirs = [os.path.join(inbox, f"folder-{k:05d}") for k in range(folders)]
    for d in dirs:
        os.makedirs(d)
    total = 0
    for i in range(files):
        data = tiny_png(rng.randbytes(12))
        with open(os.path.join(dirs[i % folders], f"img_{i:06d}.png"), "wb") as f:
            f.write(data)
        total += len(data)
    return total, time.time() - t0


SUMMARY = re.compile(r"organized (\d+), duplicates (\d+), skipped (\d+), failed (\d+) \((\d+) files hashed, (\d+) known by identity, ([\d.]+) s\)")


def run_scan(alice, config, work, tag):
    out_path = os.path.join(work, f"{tag}.stdout")
    err_path = os.path.join(work, f"{tag}.stderr")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.time()
        rc = subprocess.run([alice, "scan", "--config", config, "--log-format", "json"],
                            stdout=out, stderr=err, env=child_env()).returncode
        wall = time.time() - t0
    m = None
    with open(out_path) as f:
        for line in f:
            m = SUMMARY.search(line) or m
    if rc != 0 or not m:
        sys.exit(f"alice scan failed (exit {rc}); see {out_path} and {err_path}")
    keys = ("organized", "duplicates", "skipped", "failed", "hashed", "known", "reported_s")
    r = dict(zip(keys, (int(x) for x in m.groups()[:6])))
    r["reported_s"] = float(m.group(7))
    r["wall"] = wall
    r["phases"] = phases(err_path, t0)
    return r


def phases(log_path, t_spawn):
    """Seconds from spawn to milestones, by the daemon's own record timestamps."""
    marks = {"alice starting": "start", "scan started": "scan_started",
             "scan walked the inbox": "walked", "stopped": "stopped"}
    out = {}
    with open(log_path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            key = marks.get(rec.get("message"))
            ts = parse_ts(rec.get("timestamp"))
            if key and ts and key not in out:
                out[key] = ts - t_spawn
    return out


def fmt_phases(ph):
    order = ("start", "scan_started", "walked", "stopped")
    return " ".join(f"{k} {ph[k]:.2f}" for k in order if k in ph)


def walk_floor(inbox):
    """What a plain walk costs: list every folder and lstat every entry (Python, one thread)."""
    t0 = time.time()
    n, stack = 0, [inbox]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    n += st.st_size >= 0
    return n, time.time() - t0


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def rss_run(alice, config, work, tag, files):
    d = Daemon(alice, config, work, tag)
    t_walk = d.wait_for(startup_walked, 600)
    if t_walk is None:
        rc, _ = d.stop()
        sys.exit(f"alice run did not walk the inbox within 600 s (exit {rc}); see {work}/{tag}.stderr")
    # Reconciliation is done once the process stops using CPU: 2 s below 2 % of one CPU.
    pid = d.proc.pid
    idle_since, prev, t_prev = None, cpu_ticks(pid), time.time()
    t_idle = None
    while time.time() < t_walk + 600:
        time.sleep(0.25)
        cur, now = cpu_ticks(pid), time.time()
        busy = (cur - prev) / CLK_TCK / (now - t_prev)
        prev, t_prev = cur, now
        if busy < 0.02:
            idle_since = idle_since or now - 0.25
            if now - idle_since >= 2.0:
                t_idle = idle_since
                break
        else:
            idle_since = None
    rss, hwm = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    watches = inotify_watches(pid)
    threads = status_kib(pid, "Threads")
    rc, stopped = d.stop()
    counters = {k: stopped.get(k) for k in ("organized", "duplicates", "skipped", "failed", "files_hashed", "identity_cache_hits")} if stopped else None
    warn = []
    if rc != 0:
        warn.append(f"exit code {rc}")
    if t_idle is None:
        warn.append("never went idle within 600 s")
    if not stopped or stopped.get("files_hashed") != 0 or stopped.get("identity_cache_hits") != files:
        warn.append(f"expected 0 files hashed and {files} identity hits, stopped record: {counters}")
    ph = {}
    for now, rec in d.lines:
        key = {"alice starting": "start", "scan started": "scan_started", "scan walked the inbox": "walked"}.get(rec.get("message"))
        ts = parse_ts(rec.get("timestamp"))
        if key and ts and key not in ph:
            ph[key] = ts - d.t_spawn
    return {"rss": rss, "hwm": hwm, "watches": watches, "threads": threads, "phases": ph,
            "walked_s": t_walk - d.t_spawn, "idle_s": (t_idle - d.t_spawn) if t_idle else float("nan"),
            "exit": rc, "stopped": counters, "warn": warn}


def cmd_big(a, alice):
    work = tempfile.mkdtemp(prefix="alice-watch-big.", dir="/var/tmp")
    try:
        inbox, org, state = (os.path.join(work, d) for d in ("inbox", "organized", "state"))
        config = os.path.join(work, "alice.toml")
        write_config(config, inbox, org, state, a.settle_ms)
        total, secs = make_tree(inbox, a.files, a.folders, a.seed)
        print(f"tree: {a.files} tiny PNGs ({total / a.files:.0f} bytes each, {total / 1e6:.1f} MB) in "
              f"{a.folders} folders, made in {secs:.1f} s", flush=True)
        subprocess.run(["sync"], check=True)
        first = run_scan(alice, config, work, "scan-first")
        print(f"first scan (organizes everything, copy mode): wall {first['wall']:.1f} s, {first}", flush=True)
        if first["organized"] != a.files:
            print(f"  !! first scan organized {first['organized']}, expected {a.files}", flush=True)
        subprocess.run(["sync"], check=True)

        target = 3.0
        modes = ["warm"] + ([] if a.no_cold else ["cold"])
        restart = {}
        for mode in modes:
            walls = []
            if mode == "warm":
                run_scan(alice, config, work, "scan-warmup")  # page cache and catalog hot
            for rep in range(a.repeats):
                if mode == "cold":
                    drop_caches()
                r = run_scan(alice, config, work, f"scan-{mode}-{rep}")
                ok = r["hashed"] == 0 and r["known"] == a.files and r["organized"] == 0 and r["failed"] == 0
                walls.append(r["wall"])
                print(f"restart scan {mode} run {rep + 1}: wall {r['wall']:.2f} s (alice reports {r['reported_s']:.1f} s; "
                      f"s after spawn: {fmt_phases(r['phases'])}) "
                      f"{r['hashed']} hashed, {r['known']} known by identity, organized {r['organized']}, "
                      f"duplicates {r['duplicates']}, skipped {r['skipped']}, failed {r['failed']}"
                      + ("" if ok else "  !! expected 0 hashed / all known / 0 organized"), flush=True)
            med = statistics.median(walls)
            restart[mode] = walls
            floors = []
            for rep in range(a.repeats):
                if mode == "cold":
                    drop_caches()
                floors.append(walk_floor(inbox)[1])
            print(f"walk floor {mode} (Python scandir + lstat of every entry): {spread(floors, '{:.2f}')} s", flush=True)
            print(f"restart scan {mode}: wall median (min–max) {spread(walls, '{:.2f}')} s; target < {target} s: "
                  + ("met" if med < target else f"MISSED by {med - target:.2f} s"), flush=True)

        runs = []
        for rep in range(a.repeats):
            r = rss_run(alice, config, work, f"run-{rep}", a.files)
            runs.append(r)
            print(f"rss run {rep + 1}: VmRSS {r['rss'] / 1024:.1f} MiB, VmHWM {r['hwm'] / 1024:.1f} MiB, "
                  f"{r['watches']} inotify watches, {r['threads']} threads, startup walk done at {r['walked_s']:.2f} s, "
                  f"idle at {r['idle_s']:.2f} s ({fmt_phases(r['phases'])}); exit {r['exit']} stopped {r['stopped']}"
                  + "".join(f"\n  !! {w}" for w in r["warn"]), flush=True)
        hwm = [r["hwm"] / 1024 for r in runs]
        print(f"rss over {a.repeats} runs (MiB, median (min–max)): VmRSS {spread([r['rss'] / 1024 for r in runs])}, "
              f"VmHWM {spread(hwm)}; target < 64 MB (61.0 MiB): "
              + ("met" if max(hwm) * 1.048576 < 64 else f"MISSED (peak {max(hwm) * 1.048576:.1f} MB)"), flush=True)
        print(f"run: startup walk done {spread([r['walked_s'] for r in runs], '{:.2f}')} s, idle "
              f"{spread([r['idle_s'] for r in runs], '{:.2f}')} s after spawn", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["latency", "big", "all"])
    ap.add_argument("--alice", default=os.path.join(ROOT, "target", "release", "alice"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--settle-ms", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rates", default="100,10", help="files per second, comma-separated")
    ap.add_argument("--duration", type=float, default=25.0, help="seconds of writing per run")
    ap.add_argument("--kib", type=int, default=32, help="mean file size for the latency runs")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--folders", type=int, default=5_000)
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache restart runs")
    ap.add_argument("--keep", action="store_true", help="keep the work dirs")
    a = ap.parse_args()
    a.rates = [float(x) for x in a.rates.split(",")]
    if not a.no_cold and a.what in ("big", "all") and os.geteuid() != 0:
        sys.exit("cold-cache runs need root (drop_caches); run as root or pass --no-cold")
    if not os.access(a.alice, os.X_OK):
        sys.exit(f"no alice binary at {a.alice}; build it: cargo build --release -p alice")
    # A private copy, so a concurrent `cargo build` cannot replace the binary mid-run.
    bindir = tempfile.mkdtemp(prefix="alice-watch-bin.", dir="/var/tmp")
    try:
        alice = os.path.join(bindir, "alice")
        shutil.copy2(a.alice, alice)
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(a.alice)))
        print(f"machine: nproc {os.cpu_count()}, {model}, load {os.getloadavg()[0]:.1f}; HEAD {commit}, binary built {built}; "
              f"settle_ms {a.settle_ms}; seed {a.seed}", flush=True)
        if a.what in ("latency", "all"):
            cmd_latency(a, alice)
        if a.what in ("big", "all"):
            cmd_big(a, alice)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


if __name__ == "__main__":
    main()
