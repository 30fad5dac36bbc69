#!/usr/bin/env python3
"""oras-py against a berth with authentication on.

Usage: oras_login.py HOST:PORT REPOSITORY WORKDIR USER PASSWORD [expect-denied]

Logs in (the Docker token flow), pushes a file as an artifact, pulls it back and compares.
With `expect-denied` as the sixth argument, the push must fail (no right to push) and the
script exits 0 only if it did. (oras-py retries refused token requests for about two
minutes before it gives up.)
"""

import os
import sys

import oras.provider


def main():
    host, repo, work, user, password = sys.argv[1:6]
    expect_denied = len(sys.argv) > 6 and sys.argv[6] == "expect-denied"
    os.chdir(work)
    with open("artifact.txt", "w") as f:
        f.write("pushed with credentials\n")
    registry = oras.provider.Registry(hostname=host, insecure=True, tls_verify=False)
    try:
        registry.login(username=user, password=password, tls_verify=False)
        target = f"{host}/{repo}:v1"
        response = registry.push(target=target, files=["artifact.txt"])
        ok = response.status_code in (200, 201)
    except Exception as e:  # oras-py raises on 401/403
        if expect_denied:
            print(f"ok denied: {e}")
            return 0
        print(f"FAIL: push raised {e!r}", file=sys.stderr)
        return 1
    if expect_denied:
        if ok:
            print("FAIL: the push was accepted", file=sys.stderr)
            return 1
        print("ok denied")
        return 0
    if not ok:
        print(f"FAIL: push answered {response.status_code}", file=sys.stderr)
        return 1
    os.remove("artifact.txt")
    files = registry.pull(target=target, outdir="pulled")
    with open(os.path.join("pulled", "artifact.txt")) as f:
        if f.read() != "pushed with credentials\n":
            print("FAIL: pulled content differs", file=sys.stderr)
            return 1
    print(f"ok pushed and pulled {files}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
