"""What each program's --help says about its numeric options: every one names the values it takes, and
what it names is what the program accepts (a value just outside is refused, naming the option)."""
import os
import re
import subprocess

import pytest

from conftest import BIN

PROGRAMS = {
    "loggen": BIN["loggen"],
    "shipper": BIN["shipper"],
    "clickhouse-endpoint": BIN["endpoint"],
    "otel-supervisor": BIN["supervisor"],
    "otelctl": BIN["otelctl"],
}
# Metavariables of options that take a number (or a duration / a size).
NUMERIC = {"N", "PORT", "LINES", "SECONDS", "DAYS", "BYTES", "DURATION"}
USAGE_EXIT = {"otelctl": 64}


def help_options(program):
    """{option: (metavar, [lines describing it])} from `program --help`."""
    r = subprocess.run([PROGRAMS[program], "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    options, current = {}, None
    for line in r.stdout.splitlines():
        m = re.match(r"^  (?:-\w, |    )--([\w-]+)(?: (\S+))?(?:\s+|$)", line)
        if m:
            current = m.group(1)
            options[current] = (m.group(2), [line])
        elif current and re.match(r"^\s{20,}\S", line):
            options[current][1].append(line)
        else:
            current = None
    return options


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_help_names_the_range_of_every_numeric_option(program):
    options = help_options(program)
    numeric = {name: lines for name, (metavar, lines) in options.items() if metavar in NUMERIC}
    assert numeric or program == "otel-supervisor", options
    for name, lines in numeric.items():
        allowed = [l for l in lines if "allowed:" in l]
        assert len(allowed) == 1, (program, name, lines)
        assert re.search(r"from \S+ to \S+|or more|\d+ or \d+", allowed[0]), (program, name, allowed)


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_the_stated_bounds_are_the_real_ones(program):
    """Integers and sizes: one past each stated bound is refused at once, with the option named."""
    checked = 0
    for name, (metavar, lines) in help_options(program).items():
        text = " ".join(lines)
        m = re.search(r"allowed: .*?from (-?\d+[KMG]?) to (-?\d+[KMG]?)", text)
        if metavar not in NUMERIC - {"DURATION"} or not m:
            continue
        lo, hi = parse_size(m.group(1).lstrip("-")) * (-1 if m.group(1).startswith("-") else 1), parse_size(m.group(2))
        outside = [str(hi + 1)] + ([str(lo - 1)] if lo > 0 else [])
        if metavar == "BYTES":
            outside = [str(hi * 2)] + ([str(lo // 2)] if lo > 1 else [])
        for value in outside:
            r = subprocess.run([PROGRAMS[program], f"--{name}", value], capture_output=True, text=True, timeout=30,
                               env={**os.environ, "NOTIFY_SOCKET": ""})
            assert r.returncode == USAGE_EXIT.get(program, 2), (program, name, value, r.returncode, r.stderr)
            assert f"--{name}" in r.stderr, (program, name, value, r.stderr)
            checked += 1
    assert checked > 0 or program == "otel-supervisor"
