"""`gradvy serve`: the collector on uvicorn, one or more server processes."""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import socket

from ..config import Config
from ..errors import GradvyError
from ..private_files import private_dir


def _check_port(host: str, port: int) -> None:
    """One sentence instead of uvicorn's log line when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except socket.gaierror:
        raise GradvyError(f"Cannot serve on {host}: no such host or address.",
                          exit_code=2) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise GradvyError(f"Port {port} on {host} is in use by another program; choose "
                              "another with --port (or [collector] port).", exit_code=1) from None
        if exc.errno == errno.EACCES:
            raise GradvyError(f"Port {port} on {host} needs privileges this user does not "
                              "have; choose one above 1023.", exit_code=1) from None
        raise GradvyError(f"Cannot serve on {host}:{port}: {exc.strerror}.",
                          exit_code=1) from None
    finally:
        probe.close()


def serve(config: Config, config_path: str | None, host: str, port: int, workers: int,
          log_level: str = "warning") -> None:
    """Run the collector in the foreground until SIGINT or SIGTERM (in-flight requests are
    answered first)."""
    if workers < 1:
        raise GradvyError("--workers must be at least 1.", exit_code=2)
    if not 0 < port <= 65535:
        raise GradvyError(f"--port must be between 1 and 65535, not {port}.", exit_code=2)
    _check_port(host, port)
    # The backends answer before the server starts: one sentence and exit code 2 if one does
    # not (uvicorn would log a traceback and exit 1).
    from .. import runtime

    runtime.activate(config)
    runtime.store()
    runtime.live().ping()
    runtime.close()
    import uvicorn

    # The server processes load the configuration themselves (uvicorn starts them fresh):
    # everything that chose it here goes to them through the environment.
    if config_path:
        os.environ["GRADVY_CONFIG"] = os.path.abspath(config_path)
    os.environ["GRADVY_DATA_DIR"] = str(config.data_dir)
    if config.redis_url:
        os.environ["GRADVY_REDIS_URL"] = config.redis_url
    if config.mongo_url:
        os.environ["GRADVY_MONGO_URL"] = config.mongo_url
    os.environ["GRADVY_COLLECTOR_PROCESSES"] = str(workers)
    os.environ["GRADVY_COLLECTOR_ADDRESS"] = f"{host}:{port}"
    if workers > 1:
        # prometheus-client's multiprocess mode: each process writes its request metrics to
        # files here and /metrics sums them. It must start empty.
        metrics_dir = config.data_dir / f"collector-metrics-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        private_dir(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if not config.collector.keys or not any(k.sha256 for k in config.collector.keys):
        print("gradvy serve: no write key is configured, so every write is refused (401/403); "
              "make one with `gradvy run collector-key NAME`.", flush=True)
    print(f"gradvy serve: collecting on http://{host}:{port} ({workers} process"
          f"{'es' if workers > 1 else ''}); Ctrl-C stops.", flush=True)
    uvicorn.run(
        "gradvy_console.collector.app:create_app", factory=True, host=host, port=port,
        workers=workers if workers > 1 else None,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on", access_log=False, log_level=log_level, server_header=False,
        timeout_graceful_shutdown=10, proxy_headers=False)
