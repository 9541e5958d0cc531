"""``python -m liver3d.app``: start the liver3d viewer (a Streamlit app) on this machine.

Example:
    python -m liver3d.app --models demo_out/app_models.json          # http://127.0.0.1:8501
    python -m liver3d.app --port 8600 --max-upload-mb 1024 --models my_models.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE = Path(__file__).with_name("page.py")
DEFAULT_REGISTRY = Path("demo_out") / "app_models.json"


def streamlit_command(host: str, port: int, max_upload_mb: int) -> list[str]:
    """The ``streamlit run`` command line: loopback by default, no telemetry, no file watching."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PAGE),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.maxUploadSize",
        str(max_upload_mb),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.enableXsrfProtection",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.app", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="*", default=None, help=f"model registry JSON files (default {DEFAULT_REGISTRY})"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-upload-mb", type=int, default=512, help="largest accepted upload, MB")
    args = parser.parse_args(argv)
    registries = args.models if args.models is not None else [str(DEFAULT_REGISTRY)]
    registries = [str(Path(p).resolve()) for p in registries]
    for path in registries:
        if not Path(path).is_file():
            print(
                f"WARN {path}: model registry not found; the app starts without its models", file=sys.stderr
            )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"WARN binding to {args.host}: the viewer has no login; anyone who can reach it can use it",
            file=sys.stderr,
        )
    workdir = tempfile.mkdtemp(prefix="liver3d-app-")
    env = {
        **os.environ,
        "LIVER3D_APP_REGISTRY": os.pathsep.join(registries),
        "LIVER3D_APP_MAX_UPLOAD_MB": str(args.max_upload_mb),
        "LIVER3D_APP_WORKDIR": workdir,
    }
    print(
        f"liver3d viewer on http://{args.host}:{args.port} (uploads up to {args.max_upload_mb} MB; Ctrl+C stops)"
    )
    print(f"temporary files under {workdir} (deleted when the server stops)", flush=True)
    process = subprocess.Popen(streamlit_command(args.host, args.port, args.max_upload_mb), env=env)

    def stop(signum, frame):  # forward a termination to the server, then clean up below
        process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
