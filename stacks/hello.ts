// The smallest useful stack: one file and one job, applied to the local
// target with no cluster. `npx hpcdk apply hello --yes` runs the job.
import { App, Job, RuntimeRef, Stack, TextFile } from 'hpcdk';

const app = new App();
const stack = new Stack(app, 'hello', { description: 'one file and one job, runs anywhere' });

const greeting = new TextFile(stack, 'greeting', { fileName: 'greeting.txt', content: 'hello from hpcdk\n' });

new Job(stack, 'say-hello', {
  allocation: { time: '00:05:00', cpusPerTask: 1, mem: '1G' },
  env: { SCRATCH: RuntimeRef.env('TMPDIR').join('hello') },
  run: [
    ['mkdir', '-p', RuntimeRef.env('SCRATCH')],
    ['cp', `files/${greeting.address}/greeting.txt`, RuntimeRef.env('SCRATCH')],
    'cat "$SCRATCH/greeting.txt"',
    'echo "job $SLURM_JOB_ID ran on $(hostname)"',
  ],
});
