"""Fuzz ``anomalyforge serve`` from its OpenAPI schema with schemathesis (a bounded run, loopback only).

    python bench/fuzz_serve.py [--max-examples 30] [--checks not_a_server_error]

Starts a server with a signed pca model, opens a stream (so that the stream operations reach their logic
instead of 404), writes a schemathesis config giving the model name and the stream id as path parameters
and the token header, fetches the schema with the token, and runs ``schemathesis run`` (examples, coverage
and fuzzing phases, one worker, fixed seed). Exit status: schemathesis'.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from serve_launch import running_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--checks", default="not_a_server_error")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    with running_server() as srv:
        auth = {"Authorization": f"Bearer {srv.token}"}
        sid = httpx.post(f"{srv.url}/streams", headers=auth, json={"model": "pca"}, timeout=120).json()["id"]
        (srv.folder / "openapi.json").write_text(httpx.get(f"{srv.url}/openapi.json", headers=auth, timeout=60).text)
        config = srv.folder / "schemathesis.toml"
        config.write_text(
            f'headers = {{ Authorization = "Bearer {srv.token}" }}\n'
            f'[parameters]\nname = "pca"\nstream_id = "{sid}"\n'
        )
        cmd = [exe, "--config-file", str(config), "run", str(srv.folder / "openapi.json"), "--url", srv.url,
               "--checks", args.checks, "--max-examples", str(args.max_examples), "--phases",
               "examples,coverage,fuzzing", "-w", "1", "--seed", str(args.seed), "--request-timeout", "30"]  # fmt: skip
        code = subprocess.call(cmd, cwd=srv.folder)  # its .schemathesis cache goes to the throw-away folder
        log = (srv.folder / "server.log").read_text()
        crashes = log.count("unhandled error")
        print(f"server log: {crashes} unhandled errors (500)")
        if crashes:
            print(log[-4000:])
        return code


if __name__ == "__main__":
    raise SystemExit(main())
