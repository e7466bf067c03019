"""A short-lived BuildKit daemon for the local image builds, and `buildctl build` against it.

No Docker engine runs here, so the images are built by BuildKit's own daemon (built from source under
tools/bin, oci worker running the runc built beside it). It lives only for one `build_images` call: started
under a state folder of ours with its own config file (so nothing in /etc/buildkit applies), stopped by PID
afterwards, with a check that it left no mount behind. Its cache folder survives, which is what makes a
second build of a changed tree take seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# runc puts build containers in cgroups under this name; stop() removes what is left of it.
CGROUP_PARENT = "chatfleet-buildkit"
CGROUP_ROOT = Path("/sys/fs/cgroup")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
BUILD_TIMEOUT = 1800.0


class BuildKitError(RuntimeError):
    """The daemon did not start or a build failed; the message names the log with the details."""


@dataclass(frozen=True)
class OCILayoutInput:
    """A local OCI layout given to a build as a named context (replaces a FROM image without a registry)."""

    store: str
    path: Path
    manifest_digest: str

    def context(self) -> str:
        # BuildKit requires the digest: a tag in oci-layout:// fails with "has no digest".
        return f"oci-layout://{self.store}@{self.manifest_digest}"


def _remove_cgroups(name: str, root: Path = CGROUP_ROOT) -> None:
    """Removes the (empty) cgroup folder `name` in every hierarchy, children first (v1 has one per
    controller, v2 a single tree); a cgroup that still holds a process stays and is left to the kernel."""
    tops = [root / name, *(hierarchy / name for hierarchy in root.glob("*") if hierarchy.is_dir())]
    for top in tops:
        if not top.is_dir():
            continue
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if (point + "/").startswith(prefix):
                found.append(point)
    return found


class BuildKitDaemon:
    """`with BuildKitDaemon(...) as daemon: daemon.build(...)`: buildkitd for the length of the block.

    Runs as root (the oci worker needs it for overlayfs and runc). With `cni_bin_dir` (holding the CNI
    `loopback` plugin) every build step gets its own network namespace with only `lo`: an offline build
    then provably reaches nothing. Without it, steps share the host's network (BuildKit's `host` mode).
    """

    def __init__(
        self,
        buildkitd: Path,
        buildctl: Path,
        runc: Path,
        state: Path,
        progress: Callable[[str], None],
        cni_bin_dir: Path | None = None,
    ) -> None:
        self.buildkitd = buildkitd
        self.buildctl = buildctl
        self.runc = runc
        self.state = state
        self.root = state / "root"
        # A short socket path: unix socket paths are limited to 107 bytes.
        self.socket = state / "buildkitd.sock"
        self.log = state / "buildkitd.log"
        self.progress = progress
        self.cni_bin_dir = cni_bin_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    def _config(self) -> Path:
        config = self.state / "buildkitd.toml"
        config.write_text(
            f'root = "{self.root}"\n'
            "[grpc]\n"
            f'  address = ["{self.address}"]\n'
            "[worker.oci]\n"
            "  enabled = true\n"
            f'  binary = "{self.runc}"\n'
            '  snapshotter = "overlayfs"\n'
            f"{self._network()}"
            f'  defaultCgroupParent = "{CGROUP_PARENT}"\n'
            "  gc = true\n"
            # Enough for the base, the wheelhouse and a few generations of the three images.
            '  gckeepstorage = "8GB"\n'
            # 2 cores here: two steps at a time keep the build from starving everything else.
            "  max-parallelism = 2\n"
            "[worker.containerd]\n"
            "  enabled = false\n"
        )
        return config

    def _network(self) -> str:
        if self.cni_bin_dir is None:
            return '  networkMode = "host"\n'
        conflist = self.state / "cni-loopback.conflist"
        conflist.write_text(
            json.dumps(
                {"cniVersion": "1.0.0", "name": "chatfleet-offline", "plugins": [{"type": "loopback"}]}
            )
        )
        # Pool size 0: a namespace per step, none kept around (nothing left mounted after the daemon).
        return (
            '  networkMode = "cni"\n'
            f'  cniConfigPath = "{conflist}"\n'
            f'  cniBinaryPath = "{self.cni_bin_dir}"\n'
            "  cniPoolSize = 0\n"
        )

    def __enter__(self) -> BuildKitDaemon:
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        for binary in (self.buildkitd, self.buildctl, self.runc):
            if not os.access(binary, os.X_OK):
                raise BuildKitError(f"{binary} is missing: run `chatfleet dev tools build` first")
        if os.geteuid() != 0:
            raise BuildKitError("buildkitd's oci worker needs root here (overlayfs, runc); run as root")
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        env = {**os.environ, "PATH": f"{self.runc.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        self.progress(f"starting buildkitd (state {self.state}, log {self.log})")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.buildkitd), "--config", str(self._config())],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BuildKitError(
                    f"buildkitd exited with {self.process.returncode} at start; see {self.log}"
                )
            if self.socket.exists():
                probe = subprocess.run(
                    [str(self.buildctl), "--addr", self.address, "debug", "workers"],
                    capture_output=True,
                    timeout=20,
                )
                if probe.returncode == 0 and probe.stdout.strip().count(b"\n") >= 1:
                    return
            time.sleep(0.3)
        self.stop()
        raise BuildKitError(f"buildkitd did not answer within {START_TIMEOUT:.0f} s; see {self.log}")

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after STOP_TIMEOUT; then fails loudly if a mount is left behind."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.socket.unlink(missing_ok=True)
        leftover = _mounts_under(self.root)
        for point in reversed(leftover):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        if leftover:
            self.progress(f"unmounted {len(leftover)} mount(s) buildkitd left under {self.root}")
        _remove_cgroups(CGROUP_PARENT)

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        output: Path,
        names: Sequence[str],
        build_args: Mapping[str, str],
        named_contexts: Mapping[str, str],
        local_dirs: Mapping[str, Path],
        layouts: Sequence[OCILayoutInput],
        log: Path,
    ) -> None:
        """One `buildctl build` with the built-in dockerfile.v0 frontend, exported as an OCI tar."""
        if self.process is None:
            raise BuildKitError("buildkitd is not running")
        command = [
            str(self.buildctl),
            "--addr",
            self.address,
            "build",
            "--progress=plain",
            "--frontend",
            "dockerfile.v0",
            "--local",
            f"context={context}",
            "--local",
            f"dockerfile={dockerfile.parent}",
            "--opt",
            f"filename={dockerfile.name}",
        ]
        for name, path in local_dirs.items():
            command += ["--local", f"{name}={path}"]
        for layout in layouts:
            command += ["--oci-layout", f"{layout.store}={layout.path}"]
        for name, value in named_contexts.items():
            command += ["--opt", f"context:{name}={value}"]
        for key, value in build_args.items():
            command += ["--opt", f"build-arg:{key}={value}"]
        # The output option is CSV: several names go in one quoted field.
        joined = ",".join(names)
        # gzip level 1: these layers only go to the local containerd; level 6 took 35 s of the chat build
        # (level 1: 11 s, layers 12 % larger).
        gzip = "compression=gzip,compression-level=1"
        command += ["--output", f'type=oci,dest={output},{gzip},"name={joined}"']
        output.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            out.write("$ " + " ".join(command) + "\n")
            out.flush()
            try:
                result = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=BUILD_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                raise BuildKitError(
                    f"buildctl build of {dockerfile.name} ran over {BUILD_TIMEOUT:.0f} s; see {log}"
                ) from None
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise BuildKitError(
                f"buildctl build of {dockerfile.name} failed (exit {result.returncode}), log {log}:\n{tail}"
            )
