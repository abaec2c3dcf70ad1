"""Checkpoint ``set`` / ``get`` from inside an Airflow 3.3 task: native store vs ours.

One real DAG run (``dag.test(use_executor=True)``: LocalExecutor, a supervised task
process, an ``airflow api-server`` for the execution API, SQLite metadata DB) runs one
task that times, in alternating rounds, ``set`` and ``get`` on

- **native**: Airflow's ``context["task_state_store"]`` (task process → supervisor →
  HTTP execution API → metadata DB); the baseline, and
- **ours**: resumable's store on a SQLite file in the same directory, scoped to the same
  task instance (what the mixin uses on Airflow 2.10 to 3.2).

Issue 6 expects native around 5 to 7 ms per call on this machine; the table reports both
and the ratio native / ours (how many times longer a native call takes).

Run it where Airflow 3.3 is installed, e.g. the airflow-3.3 nox venv:
``nox -s airflow-3.3 --reuse-existing-virtualenvs -- --co -q`` once, then
``.nox/airflow-3-3/bin/python benchmarks/bench_airflow.py [--ops N]``. Without Airflow
3.3 (as in ``nox -s bench``) it prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

DAG_ID = "bench_task_state_store"

# The task body: runs inside the Airflow task process. It must not depend on this file.
DAG_FILE = textwrap.dedent(
    """
    import json, os, statistics, time
    from datetime import datetime, timezone

    from airflow.sdk import DAG, task

    from resumable import open_store
    from resumable.airflow import TaskInstanceId, scope_of


    def _time(store, ops, round_no):
        sets, gets = [], []
        value = {"page": 0, "cursor": "c" * 40, "done": [1, 2, 3]}
        for i in range(ops):
            key = f"r{round_no}-k{i}"
            value["page"] = i
            t0 = time.perf_counter()
            store.set(key, value)
            t1 = time.perf_counter()
            got = store.get(key)
            t2 = time.perf_counter()
            assert got == value, (got, value)
            sets.append(t1 - t0)
            gets.append(t2 - t1)
        return sets, gets


    with DAG(
        "__DAG_ID__", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)
    ) as dag:

        @task
        def bench(**context):
            ops, rounds = int(os.environ["BENCH_OPS"]), int(os.environ["BENCH_ROUNDS"])
            ti = context["ti"]
            stores = {
                "native": context["task_state_store"],
                "ours": open_store(os.environ["BENCH_OWN_URL"]).scope(
                    *scope_of(TaskInstanceId(ti.dag_id, ti.run_id, ti.task_id, ti.map_index))
                ),
            }
            for store in stores.values():  # warm up connections and caches
                _time(store, 3, -1)
            samples = {name: {"set": [], "get": []} for name in stores}
            for round_no in range(rounds):
                order = list(stores) if round_no % 2 == 0 else list(reversed(stores))
                for name in order:
                    sets, gets = _time(stores[name], ops, round_no)
                    samples[name]["set"] += sets
                    samples[name]["get"] += gets
            with open(os.environ["BENCH_OUT"], "w") as out:
                json.dump(samples, out)

        bench()
    """
)


def _skip_reason() -> str | None:
    if importlib.util.find_spec("airflow") is None:
        return "Airflow is not installed here"
    major, minor, *_ = importlib.metadata.version("apache-airflow").split(".")
    if (int(major), int(minor)) < (3, 3):
        return f"Airflow {major}.{minor} has no native task_state_store (needs 3.3+)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _run_dag(tmp: Path, ops: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    bin_dir = Path(sys.executable).parent
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "bench_dag.py").write_text(DAG_FILE.replace("__DAG_ID__", DAG_ID))
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    out = tmp / "samples.json"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "BENCH_OPS": str(ops),
        "BENCH_ROUNDS": str(rounds),
        "BENCH_OWN_URL": f"sqlite:///{tmp / 'resumable-state.db'}",
        "BENCH_OUT": str(out),
    }
    subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    with (tmp / "api-server.log").open("w") as log:
        server = subprocess.Popen(
            [str(bin_dir / "airflow"), "api-server", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not _healthy(api):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"airflow api-server did not start; see {log.name}")
                time.sleep(0.2)
            runner = (
                "import runpy, sys; from datetime import datetime, timezone;"
                f"ns = runpy.run_path({str(dags / 'bench_dag.py')!r});"
                "dag = next(v for v in ns.values() if getattr(v, 'dag_id', None) == "
                f"{DAG_ID!r});"
                "dag.test(logical_date=datetime.now(timezone.utc), use_executor=True)"
            )
            _run_until_done(runner, env, tmp / "dag-run.log", out)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _run_until_done(runner: str, env: dict[str, str], log_path: Path, out: Path) -> None:
    """Run the DAG run; return once it has ended and the task has written its samples.

    ``dag.test`` on Airflow 3.3 can hang in ``LocalExecutor.end()`` after the run has
    finished (an idle worker never takes its shutdown message), so the process gets a
    grace period once the run is over, and is then killed.
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", runner],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 1800
    while process.poll() is None and time.monotonic() < deadline:
        if "DagRun Finished" in log_path.read_text(errors="replace"):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            break
        time.sleep(0.5)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if not out.exists():
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit("the benchmark task wrote no samples:\n" + "\n".join(tail))


def _ms(samples: list[float], percentile: int) -> float:
    """The ``percentile``-th percentile of ``samples`` (seconds), in milliseconds."""
    return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1] * 1000


def main() -> None:
    """Parse arguments, run one DAG run, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ops", type=int, default=50, help="set+get pairs per round")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    args = parser.parse_args()
    reason = _skip_reason()
    if reason is not None:
        print(f"bench_airflow: skipped — {reason}. Run it in the airflow-3.3 nox venv.")
        return
    from rich.console import Console
    from rich.table import Table

    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
        samples = _run_dag(Path(tmp), args.ops, args.rounds)
    calls = args.ops * args.rounds
    table = Table(
        title=f"checkpoint calls inside one Airflow 3.3 task ({calls} per op and store), ms"
    )
    for column in ("op", "native p50", "ours p50", "native p95", "ours p95"):
        table.add_column(column, justify="right")
    for column in ("native mean", "ours mean", "native/ours p50", "native/ours mean"):
        table.add_column(column, justify="right")
    for op in ("set", "get"):
        native, ours = samples["native"][op], samples["ours"][op]
        table.add_row(
            op,
            f"{_ms(native, 50):.2f}",
            f"{_ms(ours, 50):.2f}",
            f"{_ms(native, 95):.2f}",
            f"{_ms(ours, 95):.2f}",
            f"{statistics.fmean(native) * 1000:.2f}",
            f"{statistics.fmean(ours) * 1000:.2f}",
            f"{_ms(native, 50) / _ms(ours, 50):.0f}x",
            f"{statistics.fmean(native) / statistics.fmean(ours):.0f}x",
        )
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(
        "native = Airflow's task_state_store (via the API server); ours = resumable's "
        "SQLite store scoped to the same task instance; native/ours = how many times "
        "longer the native call takes. "
        f"Started {started:%Y-%m-%d %H:%M} UTC."
    )


if __name__ == "__main__":
    main()
