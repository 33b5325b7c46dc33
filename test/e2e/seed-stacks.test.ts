import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster } from '../helpers/cluster.js';
import { cleanupProjects, copyRepo, hpcdk } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/**
 * A shared profile for the loopback test cluster, added to a copy of this
 * repository as a user adds one for their cluster: the seed stacks keep
 * their own targets and are applied here with --target testcluster.
 */
function addTestClusterProfile(dir: string): string {
  const base = `/tmp/hpcdk-remote-e2e-${randomBytes(4).toString('hex')}`;
  writeFileSync(
    join(dir, 'stacks', 'zz-testcluster.ts'),
    `import { ClusterProfile } from 'hpcdk';
new ClusterProfile('testcluster', {
  scheduler: 'slurm',
  ssh: { host: 'hpcdk-test' },
  basePath: ${JSON.stringify(base)},
  partitions: { gpu: { maxTime: '2-00:00:00', cpusPerNode: 64, memPerNode: '500G', gpus: { a100: 4, l4: 2, t4: 2 }, gpuMemoryGb: { a100: 80, l4: 22, t4: 16 } } },
  jobDefaults: { partition: 'gpu', time: '00:10:00', gpus: { type: 'l4', count: 1 } },
  env: { TRAIN_CONFIG: 'examples/rsm/configs/mini.yaml' },
  scratchVar: 'SLURM_TMPDIR',
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
});
`,
  );
  return base;
}

describe('the seed-modelled stacks on the SLURM test cluster', () => {
  it('rsm (seed 004): bundles the committed experiment, stages the corpus, trains to COMPLETED with checkpoints and a freeze; then no changes', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = copyRepo('hpcdk-e2e-');
    const base = addTestClusterProfile(dir);
    // The corpus the stack prefetches, where the stack says it lives: $HOME/data/pg19.tar.gz.
    const corpus = `pg19-e2e-${randomBytes(3).toString('hex')}`;
    await onCluster(
      env,
      `mkdir -p "$HOME/data" /tmp/${corpus}/pg19 && echo "a book" > /tmp/${corpus}/pg19/book.txt && test ! -e "$HOME/data/pg19.tar.gz" && tar -czf "$HOME/data/pg19.tar.gz" -C /tmp/${corpus} pg19`,
    );
    try {
      const plan = await hpcdk(dir, ['plan', 'rsm', '--target', 'testcluster'], sshEnv);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('# code will be created (new: will be built)');
      expect(plan.stdout).toContain('# train will be submitted (new)');

      const apply = await hpcdk(dir, ['apply', 'rsm', '--target', 'testcluster', '--yes'], sshEnv);
      expect(apply.exitCode, apply.stderr).toBe(0);
      await waitFor(
        'rsm/train to complete',
        async () => {
          const r = await hpcdk(dir, ['status', 'rsm', '--target', 'testcluster', '--json'], sshEnv);
          const train = (
            JSON.parse(r.stdout) as { resources: Array<{ address: string; status: string }> }
          ).resources.find((x) => x.address === 'train');
          if (train?.status === 'FAILED')
            throw new Error(
              `train failed:\n${(await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster', '--err'], sshEnv)).stdout}`,
            );
          return train?.status === 'COMPLETED' ? true : undefined;
        },
        90_000,
      );

      const out = (await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster'], sshEnv)).stdout;
      expect(out).toMatch(/hpcdk: staged .*pg19\.tar\.gz to .*\/data\/pg19/);
      expect(out).toMatch(/checkpoint .*\/checkpoints\/step_00000010\.json \(periodic\)/);
      expect(out).toMatch(/trained 10 steps on .*\/data\/pg19 with examples\/rsm\/configs\/mini\.yaml/);
      const err = (await hpcdk(dir, ['logs', 'rsm/train', '--target', 'testcluster', '--err'], sshEnv)).stdout;
      expect(err).toMatch(/hpcdk: code code at commit [0-9a-f]{40}/);
      expect(await onCluster(env, `ls ${base}/rsm/logs/train/frozen/`)).toMatch(/^\d+\.txt$/m);

      const again = await hpcdk(dir, ['plan', 'rsm', '--target', 'testcluster', '--detailed-exitcode'], sshEnv);
      expect(again.exitCode, again.stdout).toBe(0);
      expect(again.stdout).toContain('No changes.');
    } finally {
      await onCluster(env, `rm -rf "$HOME/data/pg19.tar.gz" /tmp/${corpus}`);
    }
  });

  it('hello: the quickstart stack runs on the test cluster too', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = copyRepo('hpcdk-e2e-');
    addTestClusterProfile(dir);
    expect((await hpcdk(dir, ['apply', 'hello', '--target', 'testcluster', '--yes'], sshEnv)).exitCode).toBe(0);
    await waitFor(
      'say-hello',
      async () =>
        (await hpcdk(dir, ['status', 'hello', '--target', 'testcluster', '--json'], sshEnv)).stdout.includes(
          '"COMPLETED"',
        )
          ? true
          : undefined,
      60_000,
    );
    expect((await hpcdk(dir, ['logs', 'hello/say-hello', '--target', 'testcluster'], sshEnv)).stdout).toMatch(
      /^hello from hpcdk\njob \d+ ran on /,
    );
    expect(
      (await hpcdk(dir, ['plan', 'hello', '--target', 'testcluster', '--detailed-exitcode'], sshEnv)).exitCode,
    ).toBe(0);
  });
});

describe('the seed 001 stack on the SLURM test cluster', () => {
  it('flat-bug: gathers the wheelhouse, builds a virtualenv per node from it offline, stages the dataset, runs the compare-models array to COMPLETED with its outputs copied back, then the R evaluation', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = copyRepo('hpcdk-e2e-');
    addTestClusterProfile(dir);
    // The checkout and the zipped dataset, where the seed keeps them: $HOME/flat-bug and $HOME/scratch/fb_data.
    const setup = String.raw`set -e
test ! -e "$HOME/flat-bug" && test ! -e "$HOME/scratch/fb_data" && test ! -e "$HOME/R/cran"
mkdir -p "$HOME/flat-bug/flat_bug" "$HOME/flat-bug/scripts/experiments" "$HOME/flat-bug/scripts/evaluation" "$HOME/scratch/fb_data/fb_yolo/insects/images/val" "$HOME/scratch/fb_data/fb_yolo/insects/labels/val"
printf '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "flat-bug"\nversion = "0.3.0"\n' > "$HOME/flat-bug/pyproject.toml"
printf '__version__ = "0.3.0"\n' > "$HOME/flat-bug/flat_bug/__init__.py"
cat > "$HOME/flat-bug/scripts/experiments/compare_models.py" <<'PY'
import argparse, os, flat_bug
p = argparse.ArgumentParser()
for a in ("-i", "-g", "--model", "--tmp", "-o"): p.add_argument(a)
a = p.parse_args()
n = len(os.listdir(a.i))
os.makedirs(a.tmp, exist_ok=True)
with open(os.path.join(a.tmp, f"result-{a.model}.txt"), "w") as f:
    f.write(f"{a.model}: {n} images\n")
print(f"compared {a.model} on {n} images with flat_bug {flat_bug.__version__}; labels {os.path.exists(a.g)}")
PY
cat > "$HOME/flat-bug/scripts/evaluation/evaluate.R" <<'R'
for (p in c("data.table", "ggplot2", "scales", "optparse", "magrittr")) suppressPackageStartupMessages(library(p, character.only = TRUE))
args <- commandArgs(trailingOnly = TRUE)
results <- list.files(file.path(args[2], "job_output"), recursive = TRUE)
cat("evaluated", length(results), "results with", format(packageVersion("ggplot2")), "\n")
R
# Stand-ins for the five CRAN packages, in a local repository of source tarballs.
mkdir -p "$HOME/R/cran/src/contrib" && cd "$(mktemp -d)"
for p in data.table:1.15.4 ggplot2:3.5.1 scales:1.3.0 optparse:1.7.5 magrittr:2.0.3; do
  n=$(echo "$p" | cut -d: -f1); v=$(echo "$p" | cut -d: -f2); mkdir -p "$n/R"
  printf 'Package: %s\nVersion: %s\nTitle: Stand-in\nDescription: A stand-in for the test cluster.\nLicense: MIT\nAuthor: t\nMaintainer: t <t@example.invalid>\n' "$n" "$v" > "$n/DESCRIPTION"
  printf 'export(standin)\n' > "$n/NAMESPACE"; printf 'standin <- function() TRUE\n' > "$n/R/standin.R"
  R CMD build "$n" >/dev/null && mv "$n"_"$v".tar.gz "$HOME/R/cran/src/contrib/"
done
Rscript -e 'tools::write_PACKAGES(file.path(Sys.getenv("HOME"), "R/cran/src/contrib"), type = "source")'
touch "$HOME/scratch/fb_data/fb_yolo/insects/images/val/bug1.jpg" "$HOME/scratch/fb_data/fb_yolo/insects/images/val/bug2.jpg"
echo '{}' > "$HOME/scratch/fb_data/fb_yolo/insects/labels/val/instances_default.json"
(cd "$HOME/scratch/fb_data/fb_yolo" && zip -q -r ../fb_yolo.zip .)`;
    await onCluster(env, setup);
    try {
      const apply = await hpcdk(dir, ['apply', 'flat-bug', '--target', 'testcluster', '--yes'], sshEnv);
      expect(apply.exitCode, apply.stderr).toBe(0);
      expect(apply.stdout).toContain('# compare-models: 3 of 3 points will be submitted');
      const rows = await waitFor(
        'the array to complete',
        async () => {
          const r = await hpcdk(dir, ['status', 'flat-bug', '--target', 'testcluster', '--json'], sshEnv);
          const points = (
            JSON.parse(r.stdout) as { resources: Array<{ address: string; status: string }> }
          ).resources.filter((x) => x.address.startsWith('compare-models/'));
          if (points.some((p) => p.status === 'FAILED')) throw new Error(`a point failed: ${JSON.stringify(points)}`);
          return points.length === 3 && points.every((p) => p.status === 'COMPLETED') ? points : undefined;
        },
        180_000,
      );
      expect(rows.map((r) => r.address).sort()).toEqual([
        'compare-models/MODEL=fb_large',
        'compare-models/MODEL=fb_medium',
        'compare-models/MODEL=fb_small',
      ]);
      const logs = await onCluster(env, 'cat /tmp/hpcdk-remote-e2e-*/flat-bug/logs/compare-models/*.out');
      for (const model of ['fb_large', 'fb_medium', 'fb_small'])
        expect(logs).toContain(`compared ${model} on 2 images with flat_bug 0.3.0; labels True`);
      // Each model's job_output left $SLURM_TMPDIR for a folder of its own before the scheduler deleted it.
      for (const model of ['fb_large', 'fb_medium', 'fb_small']) {
        expect(
          await onCluster(env, `cat "$HOME/scratch/my_output_folder/job_output/MODEL=${model}/result-${model}.txt"`),
        ).toBe(`${model}: 2 images`);
      }
      // The R evaluation ran after the array, with the pinned packages apply installed.
      await waitFor(
        'the evaluation to complete',
        async () => {
          const r = await hpcdk(dir, ['status', 'flat-bug', '--target', 'testcluster', '--json'], sshEnv);
          const evaluate = (
            JSON.parse(r.stdout) as { resources: Array<{ address: string; status: string }> }
          ).resources.find((x) => x.address === 'evaluate');
          if (evaluate?.status === 'FAILED')
            throw new Error(
              `evaluate failed:\n${(await hpcdk(dir, ['logs', 'flat-bug/evaluate', '--target', 'testcluster', '--err'], sshEnv)).stdout}`,
            );
          return evaluate?.status === 'COMPLETED' ? evaluate : undefined;
        },
        120_000,
      );
      expect((await hpcdk(dir, ['logs', 'flat-bug/evaluate', '--target', 'testcluster'], sshEnv)).stdout).toContain(
        'evaluated 3 results with 3.5.1',
      );
      const again = await hpcdk(dir, ['plan', 'flat-bug', '--target', 'testcluster', '--detailed-exitcode'], sshEnv);
      expect(again.exitCode, again.stdout).toBe(0);
    } finally {
      await onCluster(
        env,
        'rm -rf "$HOME/flat-bug" "$HOME/scratch/fb_data" "$HOME/scratch/my_output_folder" "$HOME/R/cran"',
      );
    }
  }, 300_000);
});
