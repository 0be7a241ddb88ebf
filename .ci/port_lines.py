#!/usr/bin/env python3
"""Counts the code lines of the `select.select` and `select.poll` ports and of the Python
programs they port, and checks that each port stays within 1.6 times its original.

Code lines: neither blank nor a comment (`#` and docstring blocks in Python, `//` in Rust).
The counts are in the README's examples table (`| P → R |`); this script checks them. The
Python originals come from the tutorials the examples port, in `../shared/seeds` next to the
repository when it is there (as in CI); without them, the README's Python counts are used.

    python3 .ci/port_lines.py            # print the table, check ratios and the README
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
LIMIT = 1.6

# Example: (document prefix, first line of the program, the line after it).
PORTS = {
    "select_upper_server": ("004", "from socket import *", "select 所有操作系统"),
    "select_server": ("000", "# myselectserver.py", "In [None]:"),
    "select_good_server": ("002", "#!/usr/bin/env python", "```"),
    "select_queue_server": ("001", "## 三、完整代码", "client端"),
    "poll_server": ("000", "# mypollserver.py", "In [None]:"),
    "poll_echo_server": ("003", "import select", "```"),
}


def python_lines(text):
    count, in_docstring = 0, False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('"""'):
            # A docstring used as a comment: its own line, or a block.
            if not (len(line) > 3 and line.endswith('"""')):
                in_docstring = not in_docstring
            continue
        if in_docstring or not line or line.startswith("#"):
            continue
        count += 1
    return count


def rust_lines(text):
    return sum(
        1 for line in text.splitlines() if line.strip() and not line.strip().startswith("//")
    )


def original(prefix, start, end):
    if not SEEDS.is_dir():
        return None
    document = next(SEEDS.glob(prefix + "*"), None)
    if document is None:
        return None
    lines = document.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if start in line)
    last = next(i for i in range(first + 1, len(lines)) if end in lines[i])
    return "\n".join(lines[first:last])


def main():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    failures = []
    have_originals = SEEDS.is_dir()
    print(f"{'port':<22}{'Python':>8}{'Rust':>6}{'ratio':>7}")
    for name, (prefix, start, end) in PORTS.items():
        rust = rust_lines((ROOT / "examples" / f"{name}.rs").read_text(encoding="utf-8"))
        row = re.search(rf"\[`{name}`\].*\| (\d+) → (\d+) \|", readme)
        source = original(prefix, start, end)
        if source is not None:
            python = python_lines(source)
        elif row is not None:
            python = int(row.group(1))
        else:
            failures.append(f"{name}: no original here, and no count in the README")
            continue
        ratio = rust / python
        print(f"{name:<22}{python:>8}{rust:>6}{ratio:>7.2f}")
        if ratio > LIMIT:
            failures.append(f"{name}: {rust} lines, {ratio:.2f} × its original's {python}")
        if row is None:
            failures.append(f"{name}: no `| PYTHON → RUST |` cell in the README's row")
        elif (int(row.group(1)), int(row.group(2))) != (python, rust):
            failures.append(
                f"{name}: the README says {row.group(1)} → {row.group(2)}, "
                f"the files {python} → {rust}"
            )
    if not have_originals:
        print("(the Python originals are not here: the README's counts were used)")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
