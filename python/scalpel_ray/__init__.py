"""scalpel-ray: `scalpel prune` with each step's shards computed as Ray tasks (see docs/cluster.md)."""
