#!/usr/bin/env python3
"""Baseline numbers for CPython's ``selectors`` module.

Measures EpollSelector, PollSelector and SelectSelector, and the ``select``
module's primitives under them, on four workloads so that the Rust benchmarks
can compare themselves with Python on the same machine, in the same run:

* dispatch -- cost of one ``sel.select(0)`` with N registered socket pairs of
  which A are readable (level-triggered, the byte is never read).
* primitives -- the same shape one layer down: one ``epoll().poll(0)``,
  ``poll().poll(0)`` or ``select.select(rlist, [], [], 0)`` over N readers
  (socket objects in ``rlist``), A of them readable.
* churn    -- cost of one register / modify / unregister cycle on one socket.
* echo     -- TCP loopback echo: the server is a selectors loop in this
  process, the client a forked process with C connections, each keeping one
  message in flight.  Round trips per second are measured by the client.

Timings use time.perf_counter_ns; each reported value is the median over
several samples, each sample being the mean over a batch of ~30 ms of calls
(Python loop overhead included: this is the cost a Python program pays).

Run:
    python3 benches/selectors/python_selectors.py --json target/bench/python.json
    python3 benches/selectors/python_selectors.py --quick      # short smoke run
Only the standard library is used.
"""
import argparse
import fcntl
import itertools
import json
import multiprocessing
import os
import platform
import resource
import select
import selectors
import socket
import statistics
import sys
import time

R, W = selectors.EVENT_READ, selectors.EVENT_WRITE
IMPLS = {
    "cpython-epoll": selectors.EpollSelector,
    "cpython-poll": selectors.PollSelector,
    "cpython-select": selectors.SelectSelector,
}
FD_SETSIZE = 1024  # select() cannot watch fds at or above this
TARGET_SAMPLE_NS = 30_000_000


def raise_fd_limit():
    # 10,000 socket pairs need 20,000 fds and a few more: as root, raise the hard limit too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(hard, 65536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return
        except (ValueError, OSError) as e:
            error = e
    print(f"note: could not raise RLIMIT_NOFILE from {soft}: {error}")


def measure(loop, samples):
    """Median ns per op; loop(n) performs n ops. Batch is sized to ~30 ms."""
    batch = 1
    while True:  # calibrate: grow the batch until it takes at least ~2 ms
        t = time.perf_counter_ns()
        loop(batch)
        dt = time.perf_counter_ns() - t
        if dt >= 2_000_000:
            break
        batch *= 4
    batch = max(1, batch * TARGET_SAMPLE_NS // dt)
    res = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        loop(batch)
        res.append((time.perf_counter_ns() - t) / batch)
    return statistics.median(res)


# ---------------------------------------------------------------- dispatch
def largest_n():
    """10,000 pairs, or as many as RLIMIT_NOFILE allows (the Rust bench uses the same rule)."""
    return min(10000, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64) // 2)


def bench_dispatch(samples, results):
    for n in (10, 100, 1000, largest_n()):
        pairs = []
        try:
            for _ in range(n):
                a, b = socket.socketpair()
                pairs.append((a, b))
                a.setblocking(False)
                b.setblocking(False)
        except OSError as e:
            print(f"note: dispatch N={n} skipped ({e}; RLIMIT_NOFILE="
                  f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]})")
            n = None
        try:
            if n is None:
                continue
            made_ready = 0
            for active in sorted({1, max(1, n // 10)}):
                # Readiness is level-triggered and the byte is never read.
                for _, b in pairs[made_ready:active]:
                    b.send(b"x")
                made_ready = active
                for impl, cls in IMPLS.items():
                    if cls is selectors.SelectSelector and \
                            max(a.fileno() for a, _ in pairs) >= FD_SETSIZE:
                        continue
                    with cls() as sel:
                        for a, _ in pairs:
                            sel.register(a, R)
                        got = len(sel.select(0))
                        if got != active:
                            raise RuntimeError(f"{impl}: {got} ready, expected {active}")

                        def loop(k, select=sel.select):
                            for _ in itertools.repeat(None, k):
                                select(0)
                        ns = measure(loop, samples)
                    results.append({"workload": "dispatch", "impl": impl,
                                    "n": n, "active": active, "ns": ns})
        finally:
            for a, b in pairs:
                a.close()
                b.close()


# -------------------------------------------------------------- primitives
PRIMITIVE_SIZES = (10, 100, 1000)


def packed_pairs(n):
    """n non-blocking socket pairs whose readers take the lowest free fds: each
    writer is moved to an fd >= FD_SETSIZE (the Rust bench does the same), so
    1,000 readers fit in select()'s range."""
    pairs = []
    try:
        for _ in range(n):
            a, b = socket.socketpair()
            pairs.append((a, b))
            try:
                fd = fcntl.fcntl(b.fileno(), fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
            except OSError:
                pass  # RLIMIT_NOFILE too low: the writer stays where it is
            else:
                b.close()
                b = socket.socket(fileno=fd)
                pairs[-1] = (a, b)
            a.setblocking(False)
            b.setblocking(False)
    except BaseException:
        for a, b in pairs:
            a.close()
            b.close()
        raise
    return pairs


def bench_primitives(samples, results):
    for n in PRIMITIVE_SIZES:
        pairs = packed_pairs(n)
        try:
            rlist = [a for a, _ in pairs]  # socket objects, as a program passes them
            fds = [a.fileno() for a in rlist]
            if max(fds) >= FD_SETSIZE:
                print(f"note: primitives N={n}: fd {max(fds)} >= FD_SETSIZE, select() skipped")
            made_ready = 0
            for active in sorted({1, max(1, n // 10)}):
                # Readiness is level-triggered and the byte is never read.
                for _, b in pairs[made_ready:active]:
                    b.send(b"x")
                made_ready = active
                with select.epoll() as ep:
                    p = select.poll()
                    for fd in fds:
                        ep.register(fd, select.EPOLLIN)
                        p.register(fd, select.POLLIN)
                    empty = []

                    def epoll_loop(k, poll=ep.poll):
                        for _ in itertools.repeat(None, k):
                            poll(0)

                    def poll_loop(k, poll=p.poll):
                        for _ in itertools.repeat(None, k):
                            poll(0)

                    def select_loop(k, sel=select.select):
                        for _ in itertools.repeat(None, k):
                            sel(rlist, empty, empty, 0)

                    waits = [("cpython-epoll.poll", lambda: ep.poll(0), epoll_loop),
                             ("cpython-poll.poll", lambda: p.poll(0), poll_loop)]
                    if max(fds) < FD_SETSIZE:
                        waits.append(("cpython-select.select",
                                      lambda: select.select(rlist, empty, empty, 0)[0],
                                      select_loop))
                    for impl, once, loop in waits:
                        got = len(once())
                        if got != active:
                            raise RuntimeError(f"{impl}: {got} ready, expected {active}")
                        ns = measure(loop, samples)
                        results.append({"workload": "primitives", "impl": impl,
                                        "n": n, "active": active, "ns": ns})
        finally:
            for a, b in pairs:
                a.close()
                b.close()


# ------------------------------------------------------------------- churn
def bench_churn(samples, results):
    a, b = socket.socketpair()
    try:
        for impl, cls in IMPLS.items():
            with cls() as sel:
                def loop(k, reg=sel.register, mod=sel.modify, unreg=sel.unregister):
                    for _ in itertools.repeat(None, k):
                        reg(a, R)
                        mod(a, R | W)
                        unreg(a)
                ns = measure(loop, samples)
            results.append({"workload": "churn", "impl": impl, "ns": ns})
    finally:
        a.close()
        b.close()


# -------------------------------------------------------------------- echo
class Conn:
    """Per-connection state: bytes not yet accepted by the kernel, bytes received."""
    __slots__ = ("out", "got")

    def __init__(self):
        self.out = bytearray()
        self.got = 0


def send_or_queue(sel, sock, st, data):
    """Send data; whatever would block is queued and EVENT_WRITE is armed."""
    if st.out:  # keep ordering: append behind what is already queued
        st.out += data
        return
    try:
        n = sock.send(data)
    except BlockingIOError:
        n = 0
    if n < len(data):
        st.out += data[n:]
        sel.modify(sock, R | W, st)


def flush(sel, sock, st):
    try:
        n = sock.send(st.out)
    except BlockingIOError:
        return
    del st.out[:n]
    if not st.out:
        sel.modify(sock, R, st)


def tune(sock):
    # Nagle + delayed ACK would add 40 ms stalls to a ping-pong protocol.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)


def echo_client(listener, port, conns, size, warmup, duration, result_w):
    """Runs in the forked child: C connections, one message in flight on each."""
    listener.close()  # inherited from the parent by fork; not ours
    msg = b"x" * size
    socks = []
    try:
        with selectors.DefaultSelector() as sel:
            for _ in range(conns):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                socks.append(s)
                tune(s)
                sel.register(s, R, Conn())
            for s in socks:
                send_or_queue(sel, s, sel.get_key(s).data, msg)
            count = 0
            t0 = time.perf_counter()
            t_start = None  # end of warm-up: start of the measured window
            while True:
                events = sel.select(timeout=5)
                if not events:
                    raise TimeoutError("echo client: no progress for 5 s")
                for key, mask in events:
                    s, st = key.fileobj, key.data
                    if mask & W:
                        flush(sel, s, st)
                    if mask & R:
                        try:
                            data = s.recv(65536)
                        except BlockingIOError:
                            continue
                        if not data:
                            raise ConnectionError("server closed the connection")
                        st.got += len(data)
                        if st.got >= size:  # full echo received: next message
                            st.got -= size
                            count += 1
                            send_or_queue(sel, s, st, msg)
                now = time.perf_counter()
                if t_start is None:
                    if now - t0 >= warmup:
                        t_start, count_start = now, count
                elif now - t_start >= duration:
                    break
            result_w.send((count - count_start) / (now - t_start))
    except Exception as e:
        result_w.send(f"{type(e).__name__}: {e}")
    finally:
        for s in socks:
            s.close()
        result_w.close()


def echo_server(sel, listener, result_r, deadline):
    """Echo until the client reports (its pipe becomes readable)."""
    listener.setblocking(False)
    sel.register(listener, R, "listener")
    sel.register(result_r, R, "result")
    while time.monotonic() < deadline:
        for key, mask in sel.select(timeout=1.0):
            if key.data == "result":
                return
            if key.data == "listener":
                while True:  # drain the accept queue
                    try:
                        c, _ = listener.accept()
                    except BlockingIOError:
                        break
                    tune(c)
                    sel.register(c, R, Conn())
                continue
            s, st = key.fileobj, key.data
            if mask & W:
                flush(sel, s, st)
            if mask & R:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    continue
                send_or_queue(sel, s, st, data)
    raise TimeoutError("echo server: client did not report in time")


def bench_echo(warmup, duration, results):
    ctx = multiprocessing.get_context("fork")
    for impl, cls in IMPLS.items():
        for conns in (1, 100, 1000):
            if cls is selectors.SelectSelector and conns > 100:
                continue  # both server fds and the listener must stay < 1024
            for size in (64, 4096):
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", 0))
                listener.listen(max(128, conns))
                result_r, result_w = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=echo_client, daemon=True, args=(
                    listener, listener.getsockname()[1], conns, size,
                    warmup, duration, result_w))
                proc.start()
                result_w.close()  # so a dead child shows up as EOF here
                sel = cls()
                try:
                    echo_server(sel, listener, result_r,
                                time.monotonic() + warmup + duration + 30)
                    rate = result_r.recv()
                except (OSError, EOFError, TimeoutError, ValueError) as e:
                    rate = f"{type(e).__name__}: {e}"
                finally:
                    for key in list(sel.get_map().values()):
                        if isinstance(key.fileobj, socket.socket):
                            key.fileobj.close()
                    sel.close()
                    listener.close()
                    result_r.close()
                    proc.join(timeout=10)
                    if proc.is_alive():
                        proc.terminate()
                        proc.join()
                if isinstance(rate, str):
                    print(f"note: echo {impl} C={conns} size={size} failed: {rate}")
                    continue
                results.append({"workload": "echo", "impl": impl, "connections": conns,
                                "size": size, "round_trips_per_sec": rate})


# ------------------------------------------------------------------ socketserver
def thread_switches(tid):
    """The thread's voluntary context switches so far, and whether it sleeps now."""
    with open(f"/proc/self/task/{tid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["voluntary_ctxt_switches"]), fields["State"].strip().startswith("S")


def bench_socketserver(quick, results):
    """shutdown() of an idle TCPServer (serve_forever's default poll_interval, 0.5 s), called
    at points spread over the interval, and the idle serving thread's voluntary context
    switches per second: what the Rust side measures of ours."""
    import socketserver
    import threading
    rounds, idle = (3, 1.2) if quick else (11, 3.0)
    shutdowns, wake_ups = [], None
    for round in range(rounds):
        server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.StreamRequestHandler)
        tid = []
        def serve():
            tid.append(threading.get_native_id())
            server.serve_forever()
        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(server.server_address) as client:
            client.recv(1)
        while not tid or not thread_switches(tid[0])[1]:
            time.sleep(0)
        if round == 0:
            before = thread_switches(tid[0])[0]
            time.sleep(idle)
            wake_ups = (thread_switches(tid[0])[0] - before) / idle
        # Called at a point spread evenly over Python's poll interval.
        time.sleep(0.5 * round / rounds)
        start = time.perf_counter()
        server.shutdown()
        shutdowns.append(time.perf_counter() - start)
        thread.join()
        server.server_close()
    shutdowns.sort()
    results.append({"workload": "socketserver", "impl": "cpython",
                    "shutdown_ms": shutdowns[len(shutdowns) // 2] * 1e3,
                    "shutdown_max_ms": shutdowns[-1] * 1e3,
                    "idle_wake_ups_per_sec": wake_ups})


# ------------------------------------------------------------------ output
def print_tables(results):
    rows = lambda w: [r for r in results if r["workload"] == w]
    print(f"\ndispatch: one sel.select(0)\n{'impl':<16}{'N':>7}{'active':>8}{'ns/select':>13}")
    for r in rows("dispatch"):
        print(f"{r['impl']:<16}{r['n']:>7}{r['active']:>8}{r['ns']:>13.1f}")
    print(f"\nprimitives: one non-blocking wait\n"
          f"{'impl':<24}{'N':>7}{'active':>8}{'ns/wait':>13}")
    for r in rows("primitives"):
        print(f"{r['impl']:<24}{r['n']:>7}{r['active']:>8}{r['ns']:>13.1f}")
    print(f"\nchurn: register + modify + unregister\n{'impl':<16}{'ns/cycle':>12}")
    for r in rows("churn"):
        print(f"{r['impl']:<16}{r['ns']:>12.1f}")
    print(f"\necho: TCP loopback, client-measured\n"
          f"{'impl':<16}{'connections':>12}{'size':>7}{'round-trips/s':>16}")
    for r in rows("echo"):
        print(f"{r['impl']:<16}{r['connections']:>12}{r['size']:>7}"
              f"{r['round_trips_per_sec']:>16.0f}")
    for r in rows("socketserver"):
        print(f"\nsocketserver: shutdown() {r['shutdown_ms']:.1f} ms (median; slowest "
              f"{r['shutdown_max_ms']:.1f} ms), {r['idle_wake_ups_per_sec']:.1f} idle wake-ups/s")


def main():
    ap = argparse.ArgumentParser(description="Benchmark CPython selectors.")
    ap.add_argument("--json", metavar="PATH", help="write results as JSON here")
    ap.add_argument("--quick", action="store_true", help="short smoke-test run")
    args = ap.parse_args()
    samples, warmup, duration = (5, 0.1, 0.3) if args.quick else (15, 0.3, 1.5)

    raise_fd_limit()
    results = []
    bench_dispatch(samples, results)
    bench_primitives(samples, results)
    bench_churn(samples, results)
    bench_echo(warmup, duration, results)
    bench_socketserver(args.quick, results)
    print_tables(results)

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"python": sys.version, "machine": platform.platform(),
                       "results": results}, f, indent=2)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
