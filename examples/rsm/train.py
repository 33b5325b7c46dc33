"""A stand-in for seed 004's train.py: a tiny loop that checkpoints and resumes.

It trains nothing; it shows the protocol hpcdk's rsm stack relies on:
- checkpoints are written to fast local disk (CHECKPOINT_DIR) every few steps;
- SIGUSR1 asks for a checkpoint now (hpcdk's checkpoint hook sends it before the time limit);
- on start, training resumes from the newest checkpoint if there is one.
"""
import argparse
import json
import os
import signal
import sys
import time


def newest_checkpoint(folder):
    if not os.path.isdir(folder):
        return None
    names = sorted(n for n in os.listdir(folder) if n.startswith("step_") and n.endswith(".json"))
    return os.path.join(folder, names[-1]) if names else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--resume", default="latest")
    args = parser.parse_args()

    with open(args.config) as f:
        config = dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)
    steps = int(config.get("steps", "10"))
    pause = float(config.get("seconds_per_step", "0.1"))
    folder = os.environ.get("CHECKPOINT_DIR", "checkpoints")
    os.makedirs(folder, exist_ok=True)

    step = 0
    # Resume order: the newest checkpoint on local disk (the same node), else the
    # newest one kept on persistent storage (a requeued run on another node).
    latest = (newest_checkpoint(folder) or os.environ.get("RESUME_FROM") or None) if args.resume == "latest" else None
    if latest:
        with open(latest) as f:
            step = json.load(f)["step"]
        print(f"resumed from {latest} at step {step}")

    def save(reason):
        path = os.path.join(folder, f"step_{step:08d}.json")
        with open(path, "w") as f:
            json.dump({"step": step, "reason": reason}, f)
        print(f"checkpoint {path} ({reason})", flush=True)

    signal.signal(signal.SIGUSR1, lambda *_: save("signal"))
    while step < steps:
        time.sleep(pause)
        step += 1
        if step % int(config.get("checkpoint_every", "5")) == 0:
            save("periodic")
    print(f"trained {steps} steps on {args.data} with {args.config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
