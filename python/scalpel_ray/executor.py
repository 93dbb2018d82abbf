"""The executor `scalpel prune --executor` calls with a phase's plan.json: every shard becomes a Ray
task that runs `scalpel shard` on a worker. The plan and the mask travel through Ray's object store,
each task's output comes back as bytes and is written where the plan says, so workers need no
shared file system (only the model and the data at the plan's paths, or a Hub id). Ray retries a
task whose worker died; the run adds the outputs in shard order, so the result does not depend on
which worker computed what, or how often.

    python3 -m scalpel_ray.executor --address ADDR [--workers N] [--scalpel PATH] [--threads T] PLAN.json
"""
import argparse, json, os, subprocess, sys, tempfile, time

import ray


class ShardKilled(RuntimeError):
    """`scalpel shard` ended by a signal (its machine is going away, or it was killed): worth a retry."""


@ray.remote(max_retries=5, retry_exceptions=[ShardKilled])
def run_shard(plan_text, masks_bytes, index, scalpel, threads):
    """Computes task `index` of the plan on this worker and returns its output's bytes."""
    plan = json.loads(plan_text)
    with tempfile.TemporaryDirectory(prefix="scalpel-shard-") as tmp:
        masks = os.path.join(tmp, "masks.safetensors")
        with open(masks, "wb") as f:
            f.write(masks_bytes)
        task = plan["tasks"][index]
        out = os.path.join(tmp, os.path.basename(task["output"]))
        local = dict(plan, masks=masks, tasks=[dict(task, output=out)])
        path = os.path.join(tmp, "plan.json")
        with open(path, "w") as f:
            json.dump(local, f)
        r = subprocess.run([scalpel, "shard", path, "--task", "0", "--threads", str(threads)], capture_output=True, text=True)
        if r.returncode < 0:
            raise ShardKilled(f"scalpel shard was killed by signal {-r.returncode} on {os.uname().nodename}")
        if r.returncode != 0:
            raise RuntimeError(f"scalpel shard failed on {os.uname().nodename} (status {r.returncode}): {r.stderr.strip()}")
        with open(out, "rb") as f:
            return f.read()


def execute(plan_path, address, workers, scalpel, threads):
    with open(plan_path) as f:
        plan_text = f.read()
    plan = json.loads(plan_text)
    with open(plan["masks"], "rb") as f:
        masks_bytes = f.read()
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        plan_ref, masks_ref = ray.put(plan_text), ray.put(masks_bytes)
        pending = list(range(len(plan["tasks"])))
        running = {}
        # at most `workers` tasks at once, each on `threads` CPUs
        options = {"num_cpus": threads}
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                running[run_shard.options(**options).remote(plan_ref, masks_ref, i, scalpel, threads)] = i
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                i = running.pop(ref)
                data = ray.get(ref)
                out = plan["tasks"][i]["output"]
                tmp = out + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, out)
    finally:
        ray.shutdown()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan")
    p.add_argument("--address", required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--scalpel", default="scalpel")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    try:
        execute(a.plan, a.address, max(1, a.workers), a.scalpel, max(1, a.threads))
    except Exception as e:  # one line for scalpel's log
        print(f"scalpel-ray executor: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
