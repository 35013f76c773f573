#!/usr/bin/env python3
"""Prints the tables of docs/performance.md from one session of
`bash benches/run_all.sh`: criterion medians (from target/criterion and
comparisons/rspotify/target/criterion) and the lines the report binaries
printed (OUT/*.log), with the load each step ran under (OUT/load.txt).

    python3 benches/tables.py OUT        (run_all.sh calls it at its end)

Prints Markdown on stdout. Timings are criterion medians; nothing here judges
a figure, it only lays them out.
"""
import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None


def medians():
    found = {}
    for root in (REPO / "target", REPO / "comparisons/rspotify/target"):
        for est in sorted((root / "criterion").glob("**/new/estimates.json")):
            bench = json.loads(est.with_name("benchmark.json").read_text())
            m = json.loads(est.read_text())["median"]
            found[bench["full_id"]] = (
                m["point_estimate"],
                m["confidence_interval"]["lower_bound"],
                m["confidence_interval"]["upper_bound"],
            )
    return found


MED = medians()


def fmt_ns(ns):
    """Three significant figures, in ns, µs or ms."""
    if ns is None:
        return "n/a"
    for scale, unit in ((1e6, "ms"), (1e3, "µs"), (1, "ns")):
        if ns >= scale or unit == "ns":
            v = ns / scale
            digits = 0 if v >= 100 else 1 if v >= 10 else 2
            if unit == "ns" and v < 10:
                digits = 1
            return f"{v:.{digits}f} {unit}"


def med(name):
    v = MED.get(name)
    return fmt_ns(v[0]) if v else "n/a"


def log(name):
    if OUT is None:
        return ""
    p = OUT / f"{name}.log"
    return p.read_text(errors="replace") if p.exists() else ""


def load_lines():
    """Each step's load.txt lines (split), its last run's only (a step rerun
    with ONLY=... replaces its first run)."""
    steps = {}
    for line in (OUT / "load.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        if parts[1] == "start":
            steps[parts[0]] = []
        steps.setdefault(parts[0], []).append(parts)
    return steps


def load_of(*steps):
    """'HH:MM-HH:MM, load a-b' over the given steps (1-minute averages)."""
    if OUT is None or not (OUT / "load.txt").exists():
        return "load not recorded"
    times, loads = [], []
    for step, lines in load_lines().items():
        if step in steps:
            for parts in lines:
                times.append(parts[2])
                loads.append(float(parts[3]))
    if not loads:
        return "load not recorded"
    return f"{times[0]}–{times[-1]}, load {min(loads):.1f}–{max(loads):.1f}"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()


def section(title, steps):
    print(f"### {title}\n")
    print(f"({load_of(*steps)})\n")


def session():
    if OUT is None or not (OUT / "session.txt").exists():
        return
    print("## Session\n")
    for line in (OUT / "session.txt").read_text().splitlines():
        print(f"- {line}")
    print()
    if (OUT / "load.txt").exists():
        print("Load (1/5/15-minute averages from `uptime`) around each step:\n")
        rows = []
        for lines in load_lines().values():
            for p in lines:
                if len(p) >= 6:
                    rows.append([p[0], p[1], p[2], " / ".join(p[3:6])])
        table(["step", "when", "time", "load"], rows)
        busy = [p[0] for lines in load_lines().values() for p in lines
                if p[1] == "start" and float(p[3]) > 2.5]
        fp = [f"`{b}` run {i + 1}" for b, _, _, _, _, loads in footprint_rows()
              for i, l in enumerate(loads) if float(l) > 2.5]
        if fp:
            busy.append("footprint's builds " + ", ".join(fp))
        print("Ran under load (a 1-minute load above 2.5 when it started): "
              + (", ".join(busy) if busy else "none") + ".\n")


def hot_path():
    section("Hot path: `get_access_token` with a valid token (criterion medians)",
            ["hot_path", "allocations"])
    allocs = {}
    for m in re.finditer(r"allocations/([\w ]+?)/(\w+): ([\d.]+) allocations, (\d+) bytes", log("allocations")):
        allocs[(m[1], m[2])] = f"{m[3]} ({m[4]} B)"
    rows = []
    for mode in ("blocking", "async"):
        for cache in ("memory", "file"):
            rows.append([f"`get_access_token`, {mode}, {cache} cache",
                         med(f"hot_path/{mode}/{cache}"), allocs.get((mode, cache), "n/a")])
            rows.append([f"`get_authorization_header`, {mode}, {cache} cache",
                         med(f"hot_path/{mode}/{cache}/header"),
                         allocs.get((f"{mode} header", cache), "n/a")])
    table(["call", "median", "allocations per call (bytes)"], rows)
    table(["part, alone", "median"], [
        ["`SystemTime::now()` to Unix seconds", med("hot_path_parts/system_time_now")],
        ["one `arc-swap` load", med("hot_path_parts/arc_swap_load")],
        ["copy a 250-byte `String`", med("hot_path_parts/copy_250_byte_string")],
    ])
    rows = [[n, med(f"contended/blocking/{n}"), med(f"contended/async/{n}")] for n in (1, 2, 8)]
    print("Many callers at once: wall time for all calls / calls.\n")
    table(["callers", "blocking (threads)", "async (tasks, 2 workers)"], rows)


def refresh():
    section("One refresh against the loopback fake, beside a bare POST", ["refresh"])
    rows = []
    for name in sorted(k for k in MED if k.startswith("refresh/")):
        rows.append([f"`{name}`", med(name)])
    table(["benchmark", "median"], rows)
    for line in log("refresh").splitlines():
        if re.match(r"refresh/\w+: \d+ calls made", line):
            print(f"- `{line.strip()}`")
    print()


def per_user():
    section("One more user, this crate's benches (criterion medians)", ["per_user"])
    contexts = [
        ("blocking", "blocking (a thread)"),
        ("async", "async, current-thread runtime, in a task"),
        ("async_block_on", "async, 2 workers, on the `block_on` thread"),
        ("async_multi_thread", "async, 2 workers, in a task (a worker)"),
    ]
    rows = []
    for key, label in contexts:
        rows.append([label] + [med(f"per_user/{key}/{s}") for s in
                               ("build_and_first_token", "build", "first_token")])
    table(["context", "build + first call (per user)", "build", "first call"], rows)
    rows = []
    for ctx in ("current_thread", "multi_thread", "multi_thread_block_on"):
        rows.append([ctx, med(f"per_user_parts/{ctx}/spawn"),
                     med(f"per_user_parts/{ctx}/spawn_blocking")])
    table(["hop alone, from", "`spawn` + await", "`spawn_blocking` + await"], rows)


def bar(nbytes, limit=4096, width=32):
    filled = round(nbytes / limit * width)
    return "█" * min(filled, width) + "░" * max(width - filled, 0) + "|"


def per_user_memory():
    section("Bytes per user (10,000 users alive; bytes asked of the allocator)",
            ["per_user_memory", "cmp_blocking_per_user_memory", "cmp_async_per_user_memory"])
    text = log("per_user_memory")
    steps = {}
    for m in re.finditer(r"per_user_memory/(\w+)/(\w+)\s+([\d.]+) bytes in\s+([\d.]+) blocks", text):
        steps[(m[1], m[2])] = (float(m[3]), float(m[4]))
    rows = []
    for step in ("token", "build", "first_token", "total"):
        rows.append([step] + [
            f"{steps[(mode, step)][0]:,.0f} B in {steps[(mode, step)][1]:.0f} blocks"
            if (mode, step) in steps else "n/a" for mode in ("blocking", "async")])
    table(["step, per user", "blocking", "async"], rows)
    for line in text.splitlines():
        if "left once" in line:
            print(f"- `{line.strip()}`")
    print()
    cmp = {}
    for mode in ("blocking", "async"):
        for m in re.finditer(r"per_user_memory/(\w+)/([\w-]+)/(\w+)\s+([\d.]+) bytes in\s+([\d.]+) blocks",
                             log(f"cmp_{mode}_per_user_memory")):
            cmp[(m[1], m[2], m[3])] = (float(m[4]), float(m[5]))
    print("Against the 4 KB limit (each █ is 128 B, `|` is 4,096 B):\n")
    print("```")
    for mode in ("blocking", "async"):
        if (mode, "total") in steps:
            b = steps[(mode, "total")][0]
            print(f"spotify-auth {mode:<8} (crate bench)  {bar(b)} {b:,.0f} B")
    for mode in ("blocking", "async"):
        for lib in ("spotify-auth", "rspotify"):
            if (mode, lib, "total") in cmp:
                b = cmp[(mode, lib, "total")][0]
                print(f"{lib:<12} {mode:<8} (comparison)    {bar(b)} {b:,.0f} B")
    print("```\n")
    rows = []
    for mode in ("blocking", "async"):
        for lib in ("spotify-auth", "rspotify"):
            cells = []
            for step in ("token", "user", "total"):
                v = cmp.get((mode, lib, step))
                cells.append(f"{v[0]:,.0f} B ({v[1]:.0f} blocks)" if v else "n/a")
            rows.append([mode, lib] + cells)
    table(["mode", "library", "the token", "the user around it", "total"], rows)


def comparison_token():
    section("A valid token per call, beside rspotify 0.16.1 (criterion medians)",
            ["cmp_blocking_token", "cmp_async_token", "cmp_blocking_allocations", "cmp_async_allocations"])
    allocs = {}
    for mode in ("blocking", "async"):
        for m in re.finditer(r"allocations/(\w+)/(\S+): ([\d.]+) per call", log(f"cmp_{mode}_allocations")):
            allocs[(m[1], m[2])] = m[3]
    rows = []
    for what in ("spotify-auth/get_access_token", "spotify-auth/get_authorization_header",
                 "spotify-auth/bearer_header", "rspotify/check_and_clone", "rspotify/auth_headers"):
        rows.append([f"`{what}`"] + [med(f"token/{mode}/{what}") for mode in ("blocking", "async")]
                    + [allocs.get((mode, what), "n/a") for mode in ("blocking", "async")])
    table(["per call", "blocking", "async", "allocations, blocking", "allocations, async"], rows)


def comparison_per_user():
    section("One more user beside rspotify 0.16.1: build + first call (criterion medians)",
            ["cmp_blocking_per_user", "cmp_async_per_user"])
    table(["context", "spotify-auth", "rspotify"], comparison_per_user_rows())


def comparison_per_user_rows():
    rows = [["blocking, a thread", med("per_user/blocking/thread/spotify-auth"),
             med("per_user/blocking/thread/rspotify")]]
    for ctx, label in (("current_thread", "async, current-thread runtime (`block_on`)"),
                       ("block_on", "async, 2 workers, the `block_on` thread (`#[tokio::main]`'s `main`)"),
                       ("worker", "async, 2 workers, a spawned task (a worker)")):
        rows.append([label, med(f"per_user/async/{ctx}/spotify-auth"), med(f"per_user/async/{ctx}/rspotify")])
    return rows


def contention():
    section("64 callers on an expired token", ["cmp_blocking_contention", "cmp_async_contention"])
    rows = []
    for mode in ("blocking", "async"):
        for m in re.finditer(r"contention/(\w+)/(\d+)/([\w-]+): (\d+) token requests, (\d+)/\d+ calls ok, ([\d.]+) ms",
                             log(f"cmp_{mode}_contention")):
            rows.append([m[1], m[2], m[3], m[4], m[5], f"{m[6]} ms"])
    table(["mode", "callers", "library", "token requests", "calls ok", "wall time"], rows)


RA = re.compile(r"refresh_ahead/(\w+)/(\w+)/(\d+)/([\w-]+)/round(\d+): (\d+) calls, p50 ([^,]+), p99 ([^,]+), "
                r"p99.9 ([^,]+), max ([^,]+), (\d+) calls >= 50 ms, (\d+) token requests, (\d+) errors, renewed: (\w+)")


def to_ns(text):
    v, unit = text.split()
    return float(v) * {"ns": 1, "µs": 1e3, "ms": 1e6}[unit]


def refresh_ahead():
    section("Refresh ahead: every call's latency, token endpoint answering in 100 ms",
            ["cmp_blocking_refresh_ahead", "cmp_async_refresh_ahead"])
    runs = []
    for mode in ("blocking", "async"):
        runs += [m.groups() for m in RA.finditer(log(f"cmp_{mode}_refresh_ahead"))]
    if not runs:
        print("(no refresh_ahead output)\n")
        return
    rows = []
    for r in runs:
        mode, token, n, lib, rnd, calls, p50, p99, p999, mx, waited, reqs, errs, renewed = r
        rows.append([mode, token, n, lib, rnd, p50, p99, p999, mx, waited, reqs, errs, renewed])
    print("Every round:\n")
    table(["mode", "token", "callers", "library", "round", "p50", "p99", "p99.9", "max",
           "calls ≥ 50 ms", "token requests", "errors", "renewed"], rows)
    print("Summary over the rounds (p50/p99/p99.9: the rounds' medians; max: the rounds' max values; "
          "requests: per round):\n")
    groups = {}
    for r in runs:
        groups.setdefault((r[0], r[2], r[1], r[3]), []).append(r)
    rows = []
    for (mode, n, token, lib), rs in groups.items():
        def mid(i):
            vals = sorted(to_ns(x[i]) for x in rs)
            return fmt_ns(vals[len(vals) // 2])
        maxes = " / ".join(x[9] for x in rs)
        reqs = " / ".join(x[11] for x in rs)
        rows.append([mode, n, token, lib, mid(6), mid(7), mid(8), maxes, reqs])
    table(["mode", "callers", "token", "library", "p50", "p99", "p99.9", "max (each round)",
           "token requests (each round)"], rows)


def service_refresh():
    section("10,000 users whose tokens expired together", ["service_refresh"])
    for line in log("service_refresh").splitlines():
        if line.startswith("service_refresh/"):
            print(f"- `{line.strip()}`")
    print()


def ra_groups():
    """Refresh-ahead rounds grouped by (mode, callers, token, library)."""
    groups = {}
    for mode in ("blocking", "async"):
        for m in RA.finditer(log(f"cmp_{mode}_refresh_ahead")):
            r = m.groups()
            groups.setdefault((r[0], r[2], r[1], r[3]), []).append(r)
    return groups


def refresh_ahead_summary():
    """p50/p99/p99.9: the rounds' medians; max: the largest of the rounds."""
    groups = ra_groups()
    rows = []
    for mode in ("blocking", "async"):
        for n in ("2", "8"):
            for token in ("far", "inside"):
                for lib in ("spotify-auth", "rspotify"):
                    rs = groups.get((mode, n, token, lib))
                    if not rs:
                        continue

                    def mid(i):
                        vals = sorted(to_ns(x[i]) for x in rs)
                        return fmt_ns(vals[len(vals) // 2])
                    worst = fmt_ns(max(to_ns(x[9]) for x in rs))
                    reqs = " / ".join(x[11] for x in rs)
                    waited = " / ".join(x[10] for x in rs)
                    label = "far from expiry (the floor)" if token == "far" else "inside its refresh window"
                    rows.append([f"{mode}, {n} {'threads' if mode == 'blocking' else 'tasks'}", label, lib,
                                 mid(6), mid(7), mid(8), worst, waited, reqs])
    return rows


def targets():
    print("## Targets\n")
    print("Computed from the figures below by `benches/tables.py`, by the rule given in each row; "
          "nothing is tuned and no test asserts a timing.\n")
    rows = []
    # Issue 15 item 7: refresh ahead.
    groups = ra_groups()
    for mode in ("blocking", "async"):
        for n in ("2", "8"):
            inside = groups.get((mode, n, "inside", "spotify-auth"))
            far = groups.get((mode, n, "far", "spotify-auth"))
            theirs = groups.get((mode, n, "inside", "rspotify"))
            if not inside or not far:
                continue
            imax = max(to_ns(x[9]) for x in inside)
            fmax = max(to_ns(x[9]) for x in far)
            reqs = [int(x[11]) for x in inside]
            waited = [int(x[10]) for x in inside]
            tmax = max(to_ns(x[9]) for x in theirs) if theirs else None
            one = all(r == 1 for r in reqs)
            none_waited = all(w == 0 for w in waited)
            if imax <= fmax and one:
                verdict = "**yes**"
            elif one and none_waited:
                verdict = ("**partly**: one request and no call waited for the endpoint, but the max inside "
                           "exceeded the far run's in this session")
            else:
                verdict = "**no**"
            rows.append([
                f"refresh ahead, {mode}, {n} callers: spotify-auth's max inside the refresh window at the floor "
                "(≤ the far-from-expiry run's max, both the largest over the rounds), one token request",
                f"max {fmt_ns(imax)} inside against {fmt_ns(fmax)} far; "
                f"token requests {' / '.join(map(str, reqs))}; calls ≥ 50 ms {' / '.join(map(str, waited))}"
                + (f"; rspotify's max inside {fmt_ns(tmax)}" if tmax else ""),
                verdict])
    # Per-user memory.
    text = log("per_user_memory")
    for mode in ("blocking", "async"):
        m = re.search(rf"per_user_memory/{mode}/total\s+([\d.]+) bytes", text)
        if m:
            b = float(m[1])
            rows.append([f"bytes per user, {mode}: ≤ 4 KB (4,096 B)", f"{b:,.0f} B (token included)",
                         "**yes**" if b <= 4096 else "**no**"])
    # Per-user time beside rspotify, each context.
    for key, label in (("blocking/thread", "blocking, a thread"),
                       ("async/current_thread", "async, current-thread runtime's `block_on`"),
                       ("async/block_on", "async, the `block_on` thread of a 2-worker runtime"),
                       ("async/worker", "async, a worker (a spawned task)")):
        ours, theirs = MED.get(f"per_user/{key}/spotify-auth"), MED.get(f"per_user/{key}/rspotify")
        if ours and theirs:
            rows.append([f"one more user, {label}: ≤ rspotify's time",
                         f"{fmt_ns(ours[0])} against {fmt_ns(theirs[0])} ({ours[0] / theirs[0]:.2f}×)",
                         "**yes**" if ours[0] <= theirs[0] else "**no**"])
    # Hot path: the call beside its parts.
    parts = [MED.get(f"hot_path_parts/{p}") for p in ("system_time_now", "arc_swap_load", "copy_250_byte_string")]
    for mode in ("blocking", "async"):
        call = MED.get(f"hot_path/{mode}/memory")
        if call and all(parts):
            total = sum(p[0] for p in parts)
            rows.append([f"hot path, {mode}: a clock read and one `arc-swap` load (no lock, no I/O), "
                         "plus the returned copy",
                         f"call {fmt_ns(call[0])}; parts alone: clock {fmt_ns(parts[0][0])} + `arc-swap` load "
                         f"{fmt_ns(parts[1][0])} + copy {fmt_ns(parts[2][0])} = {fmt_ns(total)}",
                         "by construction (`Session::fresh`); the call is "
                         f"{call[0] - total:+.1f} ns from its parts"])
    table(["target", "measured (this session)", "holds"], rows)


def readme():
    """The README's Performance tables: the same figures, fewer of them."""
    print(f"Figures from one session of `bash benches/run_all.sh` ({session_line()}); "
          "every table, the load of each step and the method are in "
          "[docs/performance.md](docs/performance.md).\n")
    print("**Refresh ahead beside rspotify 0.16.1** (`comparisons/rspotify`, `refresh_ahead`): "
          "callers calling without pause for 3.5 s (spotify-auth `get_authorization_header`, "
          "rspotify `auth_headers`), the token endpoint answering in 100 ms; "
          "p50/p99/p99.9: the median over the rounds, max: the largest.\n")
    table(["callers", "token", "library", "p50", "p99", "p99.9", "max", "calls ≥ 50 ms (each round)",
           "token requests (each round)"], refresh_ahead_summary())
    print("**One more user beside rspotify 0.16.1** (build with a stored token, then the first token; "
          "criterion medians, `comparisons/rspotify`, `per_user`):\n")
    rows = comparison_per_user_rows()
    table(["context", "spotify-auth", "rspotify"], rows)
    text = log("per_user_memory")
    cells = []
    for mode in ("blocking", "async"):
        m = re.search(rf"per_user_memory/{mode}/total\s+([\d.]+) bytes in\s+([\d.]+) blocks", text)
        cells.append(f"{float(m[1]):,.0f} B in {float(m[2]):.0f} blocks" if m else "n/a")
    cmp = {}
    for mode in ("blocking", "async"):
        for m in re.finditer(r"per_user_memory/(\w+)/([\w-]+)/total\s+([\d.]+) bytes",
                             log(f"cmp_{mode}_per_user_memory")):
            cmp[(m[1], m[2])] = float(m[3])
    print("**Bytes per user** (10,000 users alive, the stored token included; limit 4 KB):\n")
    table(["", "blocking", "async"], [
        ["spotify-auth (`benches/per_user_memory.rs`)"] + cells,
        ["spotify-auth (comparison crate, its shorter refresh token)"]
        + [f"{cmp[(m, 'spotify-auth')]:,.0f} B" if (m, "spotify-auth") in cmp else "n/a" for m in ("blocking", "async")],
        ["rspotify (comparison crate)"]
        + [f"{cmp[(m, 'rspotify')]:,.0f} B" if (m, "rspotify") in cmp else "n/a" for m in ("blocking", "async")],
    ])
    fp = {b: (g, secs) for b, g, _, _, secs, _ in footprint_rows()}
    if fp:
        print("**Build footprint** (`FOOTPRINT=1`, `comparisons/rspotify/footprint.sh`: crates in the "
              "normal dependency graph, clean release build, each run):\n")
        rows = []
        for mode in ("blocking", "async"):
            cells = [mode]
            for lib in ("ours", "rspotify"):
                g, secs = fp.get(f"{lib}-{mode}", ("n/a", []))
                cells.append(f"{g} crates, " + " / ".join(f"{x:.0f} s" for x in secs))
            rows.append(cells)
        table(["build", "spotify-auth", "rspotify 0.16.1"], rows)
        loads = [float(x) for *_, ls in footprint_rows() for x in ls]
        busy = sum(1 for x in loads if x > 2.5)
        if busy:
            print(f"{busy} of {len(loads)} of these builds started with a 1-minute load above 2.5 (the "
                  "average still counts the build before; other work on the machine raises it too): read their "
                  "times beside the other run's; the crate counts do not depend on the load.\n")
    parts = [med(f"hot_path_parts/{p}") for p in ("system_time_now", "arc_swap_load", "copy_250_byte_string")]
    print("**Hot path** (valid token; criterion medians, `benches/hot_path.rs`): a wall-clock read and one "
          "`arc-swap` load, no lock and no I/O, then the returned copy.\n")
    table(["call", "blocking", "async", "rspotify 0.16.1, blocking / async"], [
        ["`get_access_token`", med("hot_path/blocking/memory"), med("hot_path/async/memory"),
         f"{med('token/blocking/rspotify/check_and_clone')} / {med('token/async/rspotify/check_and_clone')} "
         "(check and clone its token)"],
        ["`get_authorization_header`", med("hot_path/blocking/memory/header"), med("hot_path/async/memory/header"),
         f"{med('token/blocking/rspotify/auth_headers')} / {med('token/async/rspotify/auth_headers')} "
         "(`auth_headers`)"],
        ["its parts alone: clock read / `arc-swap` load / 250-byte copy", " / ".join(parts), "", ""],
    ])


def session_line():
    if OUT is None or not (OUT / "session.txt").exists():
        return "no session recorded"
    kv = dict(line.split(": ", 1) for line in (OUT / "session.txt").read_text().splitlines()
              if ": " in line and not line.startswith("rerun"))
    reruns = sum(1 for line in (OUT / "session.txt").read_text().splitlines() if line.startswith("rerun"))
    return (f"{kv.get('date', '?')}, commit {kv.get('commit', '?')}, {kv.get('machine', '?')}"
            + (f"; {reruns} step rerun{'s' if reruns > 1 else ''} noted in docs/performance.md" if reruns else ""))


def captured(fn):
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue()


def everything():
    session()
    targets()
    print("## Figures\n")
    hot_path()
    refresh()
    per_user()
    per_user_memory()
    comparison_token()
    comparison_per_user()
    contention()
    refresh_ahead()
    service_refresh()
    footprint()


FP_LABELS = {
    "ours-blocking": "spotify-auth, `blocking` only",
    "ours-async": "spotify-auth, `async` only",
    "rspotify-blocking": "rspotify 0.16.1, `client-ureq` + `ureq-rustls-tls`",
    "rspotify-async": "rspotify 0.16.1, `client-reqwest` + `reqwest-rustls-tls`",
    "tls-ring": "reqwest 0.13 `rustls-no-provider` + rustls `ring` + tokio (what `async` uses)",
    "tls-aws-lc": "reqwest 0.13 `rustls` (aws-lc-rs) + tokio",
}


def footprint_rows():
    """(build, graph, forbidden crates found, compiled, [seconds per run], [load before])."""
    text = log("footprint")
    graph, runs = {}, {}
    for line in text.splitlines():
        m = re.match(r"^([\w-]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(.*)$", line)
        if m:
            r = runs.setdefault(m[1], {"compiled": m[3], "secs": [], "load": []})
            r["secs"].append(float(m[4]))
            r["load"].append(m[5].split(",")[0].strip())
            continue
        m = re.match(r"^([\w-]+)\s+(\d+)\s+(yes)?\s+(.*)$", line)
        if m and m[1] in FP_LABELS:
            graph[m[1]] = (m[2], m[4])
    rows = []
    for b in FP_LABELS:
        if b in graph or b in runs:
            g = graph.get(b, ("n/a", "n/a"))
            r = runs.get(b, {"compiled": "n/a", "secs": [], "load": []})
            rows.append((b, g[0], g[1], r["compiled"], r["secs"], r["load"]))
    return rows


def footprint():
    rows = footprint_rows()
    if not rows:
        return
    section("Build footprint (`bash comparisons/rspotify/footprint.sh 2`: throwaway crates, clean "
            "release builds)", ["footprint"])
    print("graph: packages in the normal dependency graph (`cargo tree -e normal`); compiled: packages "
          "built, build-dependencies and proc-macros included; the crates that must not be there: "
          "tokio, reqwest, hyper, hyper-util, futures-executor in a blocking build, ureq in ours async.\n")
    table(["build", "graph", "must-not crates found", "compiled", "clean build, each run",
           "1-minute load before each run"],
          [[FP_LABELS[b], g, f, c, " / ".join(f"{x:.1f} s" for x in secs), " / ".join(load)]
           for b, g, f, c, secs, load in rows])


def splice(path, begin, end, body):
    text = path.read_text()
    a, b = text.index(begin) + len(begin), text.index(end)
    path.write_text(text[:a] + "\n\n" + body.strip() + "\n\n" + text[b:])


full = captured(everything)
print(full, end="")
if "--write" in sys.argv[2:]:
    splice(REPO / "docs/performance.md", "<!-- run_all:begin -->", "<!-- run_all:end -->", full)
    splice(REPO / "README.md", "<!-- run_all:begin -->", "<!-- run_all:end -->", captured(readme))
    print("== docs/performance.md and README.md rewritten between their run_all markers", file=sys.stderr)
