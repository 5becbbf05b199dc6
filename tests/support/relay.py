"""Byte relay shared by the test stand-ins that forward a connection (ssm_plugin.py,
tls_front.py): copy one direction until EOF or an error, then shut both sockets."""

import socket


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
