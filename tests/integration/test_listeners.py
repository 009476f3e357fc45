"""Every listener the project starts binds to 127.0.0.1: the broker (client and controller listeners), Triton (http,
grpc, metrics, and its backend stubs) and the worker with its web server on. Read from /proc: the sockets each
process (and its children) holds in LISTEN state."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from streams.tools.stack import free_port, port_open
from support import Run, wait_until

pytestmark = pytest.mark.integration


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by `pid` or its descendants."""
    pids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        pids.add(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            todo += [int(c) for c in children if int(c) not in pids]
    inodes = set()
    for p in pids:
        for fd in Path(f"/proc/{p}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints the address as 32-bit words in host byte order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
            address = socket.inet_ntop(family, raw).removeprefix("::ffff:")  # Java listens on IPv4-mapped IPv6
            found.add((address, int(hex_port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_every_listener_binds_to_localhost(kafka, triton, tmp_path):
    (bootstrap, broker), (triton_url, server) = kafka, triton
    if broker is None or server is None:
        pytest.skip("the broker and Triton must be this session's own")
    web_port = free_port()
    run = Run.create(bootstrap, triton_url, tmp_path, CALLQA_WEB_ENABLED="true", CALLQA_WEB_PORT=str(web_port))
    worker = run.worker().start()
    try:
        wait_until(lambda: port_open("127.0.0.1", web_port), "the worker's web server", 180)
        listeners = {"kafka": listening(broker.process.proc.pid), "triton": listening(server.process.proc.pid),
                     "worker": listening(worker.proc.pid)}
    finally:
        worker.stop()
    assert {broker.port, broker.controller_port} <= {port for _, port in listeners["kafka"]}
    assert {server.http_port, server.grpc_port, server.metrics_port} <= {port for _, port in listeners["triton"]}
    assert web_port in {port for _, port in listeners["worker"]}
    for name, found in listeners.items():
        assert {address for address, _ in found} == {"127.0.0.1"}, (name, found)
