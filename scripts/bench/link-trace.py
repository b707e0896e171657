#!/usr/bin/env python3
"""Where a shaped push leaves the link idle (bench-push-link.sh --trace).

  link-trace.py sample PORT OUT     samples, until SIGTERM, the bytes htb class 1:20 (towards the
                                    registry port) has sent, every 50 ms, and each connection
                                    to PORT's `ss -ti` line every 250 ms; writes them to OUT
  link-trace.py summary OUT START END BITS
                                    one line: the link's bytes and floor, when the first and last
                                    bytes crossed it, and the 50 ms intervals in which it
                                    carried under half its rate (start, middle, end of the push)
"""
import re
import signal
import subprocess
import sys
import time


def sample(port, out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    samples, conns, n = [], {}, 0
    while not stop:
        t = time.time()
        shown = subprocess.run(["tc", "-s", "class", "show", "dev", "lo", "classid", "1:20"],
                               capture_output=True, text=True).stdout
        m = re.search(r"Sent (\d+) bytes", shown)
        if m:
            samples.append((t, int(m[1])))
        if n % 5 == 0:
            lines = subprocess.run(["ss", "-tinH", "dst", f"127.0.0.1:{port}"],
                                   capture_output=True, text=True).stdout.splitlines()
            for head, info in zip(lines[::2], lines[1::2]):
                conns[head.split()[3]] = info.strip()
        n += 1
        time.sleep(max(0.0, 0.05 - (time.time() - t)))
    with open(out, "w") as f:
        for t, b in samples:
            f.write(f"S {t:.4f} {b}\n")
        for local, info in conns.items():
            f.write(f"C {local} {info}\n")


def summary(out, start, end, bits):
    start, end, rate = float(start), float(end), int(bits) / 8
    samples = [(float(t), int(b)) for kind, t, b in
               (line.split(maxsplit=2) for line in open(out)) if kind == "S"]
    moving = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    if not moving:
        return print("trace: nothing crossed the shaped link")
    first, last = samples[moving[0] - 1][0], samples[moving[-1]][0]
    sent = samples[moving[-1]][1] - samples[moving[0] - 1][1]
    slow = {"start": 0, "middle": 0, "end": 0}
    for i in range(moving[0], moving[-1] + 1):
        (t0, b0), (t1, b1) = samples[i - 1], samples[i]
        if b1 - b0 < 0.5 * rate * (t1 - t0):
            where = "start" if t0 - start < 1 else "end" if end - t1 < 1 else "middle"
            slow[where] += 1
    limited = []
    for line in open(out):
        if line.startswith("C "):
            m = re.search(r"rwnd_limited:(\d+)ms", line)
            if m:
                limited.append(int(m[1]))
    print(f"trace: {sent / 1e6:.1f} MB on the link (floor {sent / rate:.2f} s); first byte "
          f"+{max(0.0, first - start):.2f} s, last -{max(0.0, end - last):.2f} s; 50 ms intervals under "
          f"half the rate: {slow['start']} in the first second, {slow['middle']} between, "
          f"{slow['end']} in the last; registry window limited the connections "
          f"{sum(limited)} ms in all")


if __name__ == "__main__":
    {"sample": sample, "summary": summary}[sys.argv[1]](*sys.argv[2:])
