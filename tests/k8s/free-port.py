#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints a TCP port of 127.0.0.1 that is free now, for a server started a moment later.

Picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range), not by binding port 0: a port from
that range is given to the next outgoing connection on the machine as readily as to us, and a server that
binds it seconds later then fails with "address already in use" (seen with the control plane's API server
under parallel tests)."""
import random
import socket

with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low = int(f.read().split()[0])
ports = list(range(max(1024, low - 12000), low))
random.shuffle(ports)
for port in ports[:500]:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("free-port: no free port found below the ephemeral range")
