"""A real Slurm cluster on this machine for tests: munged, slurmctld and two slurmd daemons (Debian's
slurmctld, slurmd, slurm-client and munge packages, installed by .ci/run), each slurmd started with `-N` as
its own node on its own port, all with configuration, keys, sockets, state and logs in a fresh folder. The
`slurm_cluster` fixture starts one per test module, points the Slurm clients at it ($SLURM_CONF) and stops
every daemon afterwards. Tests skip, printing why, only where the Slurm or munge binaries are missing."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
NODES = ("t2s-n1", "t2s-n2")
PARTITION = "t2s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def slurm_conf(root: Path, cpus: int) -> str:
    """Both nodes live on this host (NodeAddr 127.0.0.1, distinct ports); no cgroups, no accounting."""
    hostname = socket.gethostname()
    user = getpass.getuser()  # root in CI; the daemons run as whoever runs the tests
    nodes = "\n".join(
        f"NodeName={name} NodeHostname={hostname} NodeAddr=127.0.0.1 Port={free_port()} CPUs={cpus} "
        f"RealMemory=1000 State=UNKNOWN" for name in NODES)
    return f"""\
ClusterName=t2stest
SlurmctldHost={hostname}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=600
{nodes}
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


class SlurmCluster:
    """munged + slurmctld + one slurmd per node, in the foreground of their own process groups."""

    def __init__(self, root: Path, cpus: int = 2):
        self.root = root
        self.conf = root / "slurm.conf"
        self.cpus = cpus
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _start(self, command: list[str], log_name: str) -> None:
        with open(self.root / "log" / log_name, "ab") as log:
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                                   start_new_session=True))

    def start(self, timeout: float = 60) -> None:
        for sub in ("munge", "state", "spool", "log", *(f"spool/{n}" for n in NODES)):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(slurm_conf(self.root, self.cpus))
        munge = self.root / "munge"
        self._start([_binary("munged"), "--foreground", "--force", f"--key-file={key}",
                     f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
                     f"--seed-file={munge}/munged.seed", f"--log-file={self.root}/log/munged.log"], "munged.out")
        self._wait(lambda: (munge / "munge.socket").exists(), 10, "munged did not create its socket")
        self._start([_binary("slurmctld"), "-D", "-f", str(self.conf)], "slurmctld.out")
        for node in NODES:
            self._start([_binary("slurmd"), "-D", "-f", str(self.conf), "-N", node], f"slurmd-{node}.out")
        self._wait(self._all_idle, timeout, "the nodes did not become idle")

    def _all_idle(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{self.logs()}")
        states = self.node_states()
        return len(states) == len(NODES) and all(s.startswith("idle") for s in states.values())

    def node_states(self) -> dict[str, str]:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, env=self.env)
        return dict(line.split() for line in proc.stdout.splitlines() if line.strip()) if proc.returncode == 0 else {}

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{what} within {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                         for p in sorted((self.root / "log").glob("*")) if p.is_file())

    def stop(self) -> None:
        # Daemons first (slurmd kills its job steps), munged last.
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []


@pytest.fixture(scope="module")
def slurm_cluster():
    missing = missing_binaries()
    if missing:
        reason = (f"Slurm is not installed here (missing {', '.join(missing)}): "
                  "apt-get install slurmctld slurmd slurm-client munge")
        print(reason)
        pytest.skip(reason)
    # A short path: the munge socket path must fit in a Unix socket address (108 bytes).
    root = Path(tempfile.mkdtemp(prefix="t2s-slurm-"))
    cluster = SlurmCluster(root)
    cluster.start()
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(root, ignore_errors=True)
