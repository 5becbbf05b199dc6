"""A stand-in for AWS's session-manager-plugin, port-forwarding sessions only.

It takes the arguments the aws CLI gives the real plugin -- `AWS_SSM_START_SESSION_RESPONSE
<region> StartSession <profile> <request JSON> <endpoint>`, with the session response (and
its token) in the AWS_SSM_START_SESSION_RESPONSE environment variable -- and refuses anything
else, as the real one does. For an `AWS-StartPortForwardingSessionToRemoteHost` request it
listens on 127.0.0.1:<localPortNumber> and forwards every connection to <host>:<portNumber>
as the bastion would reach it: the bastion's DNS inside the VPC is TEST_VPC_HOSTS, a JSON map
from "host:port" to the local address the test serves it on. It prints what the real plugin
prints, and stops on SIGTERM or SIGINT.

`--version` prints the version, as the real plugin does: TEST_PLUGIN_VERSION, else a current
one.

Every start and stop is appended, one JSON object per line, to TEST_PLUGIN_LOG.
"""

import json
import os
import signal
import socket
import sys
import threading

from relay import pump  # tests/support/relay.py (the script's directory is on sys.path)


def log(entry):
    path = os.environ.get("TEST_PLUGIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def main():
    args = sys.argv[1:]
    if args == ["--version"]:
        print(os.environ.get("TEST_PLUGIN_VERSION") or "1.2.707.0")
        return 0
    if len(args) != 6 or args[0] != "AWS_SSM_START_SESSION_RESPONSE" or args[2] != "StartSession":
        print("Invalid arguments: " + " ".join(args[:1]), file=sys.stderr)
        return 1
    response = json.loads(os.environ.get("AWS_SSM_START_SESSION_RESPONSE") or "null")
    if not isinstance(response, dict) or not all(
        response.get(k) for k in ("SessionId", "StreamUrl", "TokenValue")
    ):
        print("Cannot read the session response", file=sys.stderr)
        return 1
    request = json.loads(args[4])
    params = request.get("Parameters") or {}
    if request.get("DocumentName") != "AWS-StartPortForwardingSessionToRemoteHost":
        print("this stand-in only forwards ports", file=sys.stderr)
        return 1
    host = params["host"][0]
    remote_port = int(params["portNumber"][0])
    local_port = int(params["localPortNumber"][0])
    vpc = json.loads(os.environ.get("TEST_VPC_HOSTS") or "{}")
    target = vpc.get("%s:%d" % (host, remote_port))
    session = response["SessionId"]
    log({"event": "start", "pid": os.getpid(), "argv": args, "request": request,
         "response_session": session, "target": target})

    def stop(signum, _frame):
        log({"event": "stop", "pid": os.getpid(), "signal": signum})
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", local_port))
    listener.listen(64)
    print("\nStarting session with SessionId: %s" % session, flush=True)
    print("Port %d opened for sessionId %s." % (local_port, session), flush=True)
    print("Waiting for connections...", flush=True)
    while True:
        conn, _ = listener.accept()
        print("\nConnection accepted for session [%s]" % session, flush=True)
        if target is None:
            # The bastion cannot resolve the host: the connection is dropped.
            conn.close()
            continue
        thost, tport = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((thost, int(tport)))
        except OSError:
            conn.close()
            continue
        threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
