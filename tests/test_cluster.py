"""The Ray engine (ltw_tf.cluster) on a real two-node cluster started here (head + one added node, one CPU each,
every node on 127.0.0.1): ``prepare --engine ray`` gives the local engine's manifest and byte-equal crops, also
when a worker is SIGKILLed mid-run; ``screen --engine ray`` gives the local JSON items; a missing extra is one
line."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_faces import face_video
from test_prepare import _video

from cli.main import main
from ltw_tf.data.manifest import read_manifest
from ltw_tf.data.prepare import prepare

KW = {"frames": 4, "size": 64, "progress": False}
SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray keeps 127.0.0.1 (else it swaps in the interface address)


@pytest.fixture(scope="module")
def cluster():
    """A head and one more node, 1 CPU and an 80 MB object store each, on 127.0.0.1 only; stopped at the end."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SWITCH, "0")
        from ray.cluster_utils import Cluster

        node = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "node_ip_address": "127.0.0.1"}
        started = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        try:
            started.add_node(**node)
            started.wait_for_nodes()
            yield started.address
        finally:
            started.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    src = tmp_path_factory.mktemp("videos")
    found = [_video(face_video(src / f"{i:03d}.mp4", n_frames=10, seed=i), vid=f"{i:03d}") for i in range(6)]
    (src / "corrupt.mp4").write_bytes(bytes(range(256)) * 40)
    return [*found, _video(src / "corrupt.mp4", vid="099")]


@pytest.fixture(scope="module")
def local(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    prepare(videos, out, workers=1, **KW)
    return out


def _same_output(a: Path, b: Path) -> None:
    rows = lambda out: [(f.path, f.label, f.frame, f.score, f.video_id) for f in read_manifest(out)]
    assert rows(a) == rows(b) and len(rows(a)) == 24
    assert (a / "skipped.csv").read_text() == (b / "skipped.csv").read_text()
    for face in read_manifest(a):  # PNG bytes of the same pixels: one encoder, one setting
        assert (a / face.path).read_bytes() == (b / face.path).read_bytes(), face.path


def test_prepare_on_ray_equals_local(cluster, videos, local, tmp_path):
    report = prepare(videos, tmp_path / "ray", engine="ray", address=cluster, workers=2, **KW)
    assert (report.extracted, report.skipped, report.faces) == (6, 1, 24)
    _same_output(local, tmp_path / "ray")
    again = prepare(videos, tmp_path / "ray", engine="ray", address=cluster, workers=2, **KW)
    assert (again.reused, again.faces_written) == (7, 0)  # finished (and unreadable) videos are not sent again


def _busy_workers() -> list[int]:
    """PIDs of Ray actor processes running PrepareWorker.extract now (Ray sets their process title)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ray::PrepareWorker.extract" in title:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_worker_killed_mid_run_is_retried_and_the_run_is_exact(cluster, videos, local, tmp_path, caplog):
    killed = []

    def kill_one():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            busy = _busy_workers()
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    with caplog.at_level(logging.INFO, logger="ltw_tf.cluster"):
        report = prepare(videos, tmp_path / "ray", engine="ray", address=cluster, workers=2, **KW)
    killer.join()
    assert killed, "no worker was seen busy"
    assert "worker died on item" in caplog.text  # the kill hit a video in flight, which was sent again
    assert (report.extracted, report.skipped, report.faces) == (6, 1, 24)
    _same_output(local, tmp_path / "ray")


def test_screen_on_ray_gives_the_local_json_items(cluster, videos, tmp_path):
    from test_screening import _make_run

    _make_run(tmp_path / "run")
    paths = [v.path for v in videos[:3]] + [videos[-1].path]
    args = ["screen", *paths, "--model", str(tmp_path / "run"), "--frames", "3", "--json", "-"]
    runner = CliRunner()
    here = runner.invoke(main, args)
    there = runner.invoke(main, [*args, "--engine", "ray", "--address", cluster, "--workers", "2"])
    assert here.exit_code == there.exit_code == 1, there.output  # the corrupt video is an item error on both
    mine, theirs = ([json.loads(line) for line in r.stdout.splitlines()] for r in (here, there))
    assert [r["path"] for r in theirs] == paths  # input order
    for a, b in zip(mine, theirs):
        # the same crops through the same float32 graph in another process: equal up to a few ulps of a
        # probability in [0, 1] (6e-8 each); the bound 1e-5 is far above that
        pa, pb = ([f.pop("probability") for f in r["frames"]] for r in (a, b))
        assert pb == pytest.approx(pa, abs=1e-5)
        for r in (a, b):
            r.pop("seconds"), r.pop("score", None), r.pop("fake_fraction", None)
            for t in r.get("tracks", []):
                t.pop("score", None)
            for f in r["frames"]:
                f.pop("ood_score")
        assert a == b


def _listening_sockets_of_this_process_tree() -> dict[int, str]:
    """Listening TCP sockets (inode -> local address) held by this process and its descendants (a Ray it
    started: GCS, raylet, workers), from /proc; others' sockets (another test worker's) are not counted."""
    import ipaddress

    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).is_file():  # IPv6 off
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            host = bytes.fromhex(fields[1].split(":")[0])
            if sys.byteorder == "little":  # the kernel prints 32-bit words in host order
                host = b"".join(host[i : i + 4][::-1] for i in range(0, len(host), 4))
            address = ipaddress.ip_address(host)
            listening[int(fields[9])] = str(getattr(address, "ipv4_mapped", None) or address)
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    tree, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree, grew = tree | more, bool(more)
    held = {}
    for pid in tree:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and int(link[8:-1]) in listening:
                held[int(link[8:-1])] = listening[int(link[8:-1])]
    return held


_STARTED_FOR_THE_RUN = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from test_cluster import SWITCH, _listening_sockets_of_this_process_tree
from ray._private import ray_constants
from ltw_tf import cluster
before, switch = _listening_sockets_of_this_process_tree(), (os.environ.get(SWITCH), ray_constants.ENABLE_RAY_CLUSTER)
with cluster.connect(None) as ray:
    ray.get(ray.remote(lambda: 1).remote())  # a worker and its servers up before the sockets are read
    nodes = [n["NodeManagerAddress"] for n in ray.nodes()]
    opened = [h for i, h in _listening_sockets_of_this_process_tree().items() if i not in before]
restored = (os.environ.get(SWITCH), ray_constants.ENABLE_RAY_CLUSTER) == switch
print(json.dumps({"nodes": nodes, "opened": opened, "restored": restored}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads sockets and processes from /proc")
def test_a_ray_started_for_the_run_listens_on_127_0_0_1_only(cluster):
    """In a fresh process without the switch set (as ``ltw-tf screen --engine ray`` without --address runs),
    while the test's cluster runs beside it: a new Ray of its own, every server it opens on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k not in (SWITCH, "RAY_ADDRESS")}
    done = subprocess.run(
        [sys.executable, "-c", _STARTED_FOR_THE_RUN, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["nodes"] == ["127.0.0.1"], seen  # one node: its own, not the test's running cluster
    assert len(seen["opened"]) >= 3, seen  # at least the GCS, the raylet and the driver's own server
    assert set(seen["opened"]) == {"127.0.0.1"}, seen
    assert seen["restored"]  # the switch put back as it was found


def test_missing_ray_extra_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    result = CliRunner().invoke(
        main, ["prepare", str(tmp_path), "--dataset", "synthff", "--out", str(tmp_path / "o"), "--engine", "ray"]
    )
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "pip install 'ltw-tf[ray]'" in result.output
    usage = CliRunner().invoke(main, ["screen", str(tmp_path), "--address", "127.0.0.1:1"])
    assert usage.exit_code == 2 and "add --engine ray" in usage.output
