#!/usr/bin/env python3
"""scalpel-ray against scalpel prune on a real local Ray cluster (a head and three worker nodes,
ray.cluster_utils.Cluster): the same masks.safetensors bytes and the same per-step metrics for 1,
2 and 3 workers, with a worker process killed (by its pid) during a step, and after the driver
was killed and the run resumed.

    python3 python/tests/test_cluster.py --scalpel .build/debug/scalpel

Exits 0 when every check holds; prints one line per check.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/Fixtures"


def prune_args(out):
    return ["--model", str(FIX / "models/llama-gqa"), "--forget", str(FIX / "data/code/docs.jsonl"),
            "--retain", str(FIX / "data/prose"), "--collect-tokens", "96", "--eval-tokens", "72", "--context", "16",
            "--ff-frac", "0.05", "--attn-frac", "0.03", "--steps", "2", "--shard-tokens", "40", "--completions", "0",
            "--out", str(out)]


def outcome(run):
    h = json.loads((run / "history.json").read_text())
    steps = [{k: s[k] for k in ("step", "pruned", "thresholds", "metrics", "drops")} for s in h["steps"]]
    return json.dumps(steps, sort_keys=True), (run / "masks.safetensors").read_bytes()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scalpel", required=True)
    args = p.parse_args()
    scalpel = os.path.abspath(args.scalpel)
    from ray.cluster_utils import Cluster
    tmp = Path(tempfile.mkdtemp(prefix="scalpel-ray-test-"))
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        failures += 0 if ok else 1

    r = subprocess.run([scalpel, "prune", *prune_args(tmp / "local")], capture_output=True, text=True)
    check(r.returncode == 0, f"scalpel prune on one machine ({r.stderr.strip()[-200:]})")
    reference = outcome(tmp / "local")

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 << 20})
    for _ in range(3):
        cluster.add_node(num_cpus=1, object_store_memory=80 << 20)
    cluster.wait_for_nodes()
    env = dict(os.environ, RAY_ADDRESS=cluster.address)
    try:
        def ray_prune(out, workers):
            return subprocess.Popen(
                [sys.executable, "-m", "scalpel_ray.cli", "prune", "--address", cluster.address, "--workers", str(workers),
                 "--scalpel", scalpel, *prune_args(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

        for workers in (1, 2, 3):
            proc = ray_prune(tmp / f"ray{workers}", workers)
            out, err = proc.communicate(timeout=600)
            check(proc.returncode == 0, f"scalpel-ray prune, {workers} worker(s) ({err.strip()[-300:]})")
            if proc.returncode == 0:
                got = outcome(tmp / f"ray{workers}")
                check(got[1] == reference[1], f"{workers} worker(s): masks.safetensors identical")
                check(got[0] == reference[0], f"{workers} worker(s): per-step metrics identical")
                check(out.count("\nstep ") + out.startswith("step ") >= 3, f"{workers} worker(s): one line per step")

        # kill a Ray worker process while it runs a shard: Ray retries the task, the result stays the same
        proc = ray_prune(tmp / "killed", 2)
        killed = []

        def killer():
            deadline = time.time() + 300
            while time.time() < deadline and not killed and proc.poll() is None:
                found = subprocess.run(["pgrep", "-f", "ray::run_shard"], capture_output=True, text=True).stdout.split()
                if found:
                    pid = int(found[0])
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass
                time.sleep(0.05)

        t = threading.Thread(target=killer)
        t.start()
        out, err = proc.communicate(timeout=900)
        t.join()
        check(bool(killed), f"a worker process running a shard was killed (pid {killed[:1]})")
        check(proc.returncode == 0, f"the run with a killed worker completed ({err.strip()[-300:]})")
        if proc.returncode == 0:
            got = outcome(tmp / "killed")
            check(got == reference, "with a killed worker: masks and metrics identical")

        # kill the driver (scalpel prune and scalpel-ray) after step 1 is saved; --resume finishes the run identically
        proc = ray_prune(tmp / "resumed", 2)
        history = tmp / "resumed" / "history.json"
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            try:
                if len(json.loads(history.read_text())["steps"]) >= 2:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        subprocess.run(["pkill", "-9", "-f", f"prune.*{tmp / 'resumed'}"])
        proc.kill()
        proc.wait()
        r = subprocess.run(
            [sys.executable, "-m", "scalpel_ray.cli", "prune", "--address", cluster.address, "--workers", "2",
             "--scalpel", scalpel, "--resume", str(tmp / "resumed")], capture_output=True, text=True, env=env, timeout=600)
        check(r.returncode == 0, f"scalpel-ray prune --resume after the driver was killed ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            check(outcome(tmp / "resumed") == reference, "resumed: masks and metrics identical")
    finally:
        cluster.shutdown()
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
