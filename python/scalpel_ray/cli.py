"""scalpel-ray prune [--address ADDR] [--workers N] [--scalpel PATH] [--threads-per-task T] <scalpel prune options>

Starts a local Ray cluster (or joins ADDR) and runs `scalpel prune` with every step's collection
and evaluation shards computed as Ray tasks (`scalpel_ray.executor`). The run folder, its files,
`--resume` and the printed steps are scalpel prune's own; the masks and metrics are identical to
a `scalpel prune` on one machine, for any number of workers.
"""
import argparse, os, shlex, shutil, subprocess, sys

import ray


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "prune":
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(64)
    p = argparse.ArgumentParser(prog="scalpel-ray prune", add_help=False)
    p.add_argument("--address")
    p.add_argument("--workers", type=int)
    p.add_argument("--scalpel")
    p.add_argument("--threads-per-task", type=int, default=1)
    p.add_argument("-h", "--help", action="store_true")
    ours, rest = p.parse_known_args(argv[1:])
    if ours.help:
        print(__doc__.strip())
        return
    scalpel = ours.scalpel or shutil.which("scalpel")
    if not scalpel:
        sys.exit("scalpel-ray: no scalpel binary: pass --scalpel PATH or put it on PATH")
    scalpel = os.path.abspath(scalpel)
    if ours.address:
        ray.init(address=ours.address, logging_level="ERROR")
    else:
        ray.init(logging_level="ERROR", include_dashboard=False)
    try:
        address = ray.get_runtime_context().gcs_address
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = ours.workers or max(1, cpus // ours.threads_per_task)
        executor = " ".join(shlex.quote(x) for x in [
            sys.executable, "-m", "scalpel_ray.executor", "--address", address, "--workers", str(workers),
            "--scalpel", scalpel, "--threads", str(ours.threads_per_task)])
        print(f"scalpel-ray: Ray at {address}, {cpus} CPUs, {workers} shard tasks at once", flush=True)
        r = subprocess.run([scalpel, "prune", *rest, "--executor", executor])
        sys.exit(r.returncode)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
