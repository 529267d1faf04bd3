"""A Spark standalone master and one worker on 127.0.0.1, started with the scripts
that ship with pyspark (`bin/spark-class`); used by the cluster test and by
`bench/bench_spark.py --standalone-cores`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 90.0  # seconds for the master to listen and the worker to register


class ClusterError(RuntimeError):
    """The master or the worker did not start; the message ends with their log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"Spark process exited: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.3)
    raise ClusterError(f"Spark did not listen on {port}: {_tail(log)}")


@contextlib.contextmanager
def standalone_cluster(folder: Path, cores: int = 1, memory: str = "1g") -> Iterator[str]:
    """Yields the master URL `spark://127.0.0.1:<port>` of a master and one worker
    with `cores` cores and `memory`; both are stopped on the way out. Their output
    goes to `folder/cluster.log`."""
    import pyspark

    home = Path(pyspark.__file__).parent
    spark_class = home / "bin" / "spark-class"
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "cluster.log"
    procs: list[subprocess.Popen] = []
    with log.open("ab") as out:
        try:
            master = subprocess.Popen(
                [str(spark_class), "org.apache.spark.deploy.master.Master", "--host",
                 "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
                env=env, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
            procs.append(master)
            _wait_port(port, master, log)
            url = f"spark://127.0.0.1:{port}"
            worker = subprocess.Popen(
                [str(spark_class), "org.apache.spark.deploy.worker.Worker", url, "--cores",
                 str(cores), "--memory", memory, "--webui-port", str(worker_ui),
                 "--work-dir", str(folder / "work")],
                env=env, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
            procs.append(worker)
            deadline = time.monotonic() + START_TIMEOUT
            while "Registering worker" not in log.read_text(errors="replace"):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise ClusterError(f"the worker did not register: {_tail(log)}")
                time.sleep(0.3)
            yield url
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
