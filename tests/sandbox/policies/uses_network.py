"""Tries the network: TCP connect to the test's listener on 127.0.0.1:`port`, binding a TCP
port, listening without binding, UDP to 127.0.0.1:`udp_port`, connecting to the test's
abstract UNIX socket `abstract` and to its UNIX socket file `unix_path`. phy2log, first row: the errno of each attempt (0 if it
worked); second row, column 0: the port it listened on (0 if none)."""
import socket

import numpy as np


def _errno_of(action):
    try:
        return 0, action()
    except OSError as error:
        return error.errno, None


def _connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"hidden data, please")


def _bind():
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
    finally:
        sock.close()


LISTENERS = []


def _listen():
    sock = socket.socket()
    sock.listen()                      # binds an ephemeral port on its own
    LISTENERS.append(sock)
    return sock.getsockname()[1]


def _udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hidden data, please", ("127.0.0.1", port))


def _unix(address):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(address)
        sock.sendall(b"hidden data, please")


def place(weight, replicas, port, udp_port, abstract, unix_path):
    layers, experts = weight.shape
    tcp, _ = _errno_of(lambda: _connect(port))
    bind, _ = _errno_of(_bind)
    listen, listened = _errno_of(_listen)
    udp, _ = _errno_of(lambda: _udp(udp_port))
    unix, _ = _errno_of(lambda: _unix("\0" + abstract))
    unix_file, _ = _errno_of(lambda: _unix(unix_path))
    report = np.zeros((layers, replicas), np.int64)
    report[0, :6] = tcp, bind, listen, udp, unix, unix_file
    report[1, 0] = listened or 0
    return report, np.ones((layers, experts), np.int64), weight
