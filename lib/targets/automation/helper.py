#!/usr/bin/env python3
# hpcdk automation-node helper: written by hpcdk, replaced when hpcdk changes it.
# It runs no shell: every command is an argument list.
import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

MAX_DIFF_BYTES = 256 * 1024
# The stack folder's layout, as lib/state/layout.ts names it (a test keeps them equal).
STATE_DIR = '.hpcdk'
JOURNAL_FILE = '.hpcdk/journal'
LOCK_FILE = '.hpcdk/stack.lock'
LOCK_GATE_FILE = '.hpcdk/stack.lock.gate'
GATE_TTL_SECONDS = 30
LEGACY_LOCK_DIR = '.hpcdk/lock'
PACKAGE_LOCKS_DIR = '.hpcdk/locks'
EXITS_DIR = '.hpcdk/exits'
INCOMING_DIR = '.hpcdk/incoming'
FILES_DIR = 'files'
ACTIVE_STATES = 'PENDING,RUNNING,CONFIGURING,COMPLETING,REQUEUED,RESIZING,SUSPENDED'
OUT = sys.stdout.buffer


class Refused(Exception):
    pass


class Stop(Exception):
    def __init__(self, code):
        Exception.__init__(self, code)
        self.code = code


def emit(data):
    OUT.write(data)
    OUT.flush()


def say(line):
    emit((line + '\n').encode('utf-8', 'surrogateescape'))


def b64(data):
    return base64.b64encode(data).decode('ascii')


def read_bytes(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def is_file(path):
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def run(argv, **kwargs):
    """Runs argv without a shell; refuses a word that is empty or holds white space."""
    for word in argv:
        if word == '' or re.search(r'\s', word):
            raise Refused('refusing to run %s: the argument %r is empty or contains white space' % (argv[0], word))
    kwargs.setdefault('stderr', subprocess.PIPE)
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, encoding='utf-8', errors='replace', **kwargs)
    except OSError as e:
        return subprocess.CompletedProcess(argv, 127, '', '%s: %s\n' % (argv[0], e))


def user():
    return pwd.getpwuid(os.getuid()).pw_name


def deployed_hashes(files_dir):
    """sha256 of every regular file under files/ but dot files, by path relative to it."""
    hashes = {}
    for root, _dirs, names in os.walk(files_dir):
        for name in names:
            full = os.path.join(root, name)
            if not name.startswith('.') and is_file(full):
                hashes[os.path.relpath(full, files_dir)] = sha256_of(full)
    return hashes


def read(req, d):
    files_dir = os.path.join(d, FILES_DIR)
    hashes = deployed_hashes(files_dir)
    say('@@files')
    for path in sorted(hashes):
        say('%s  ./%s' % (hashes[path], path))
    say('@@contents')
    for path, sha in sorted(req['expected'].items()):
        full = os.path.join(files_dir, path)
        if path in hashes and hashes[path] != sha and os.path.getsize(full) <= MAX_DIFF_BYTES:
            say('./%s %s' % (path, b64(read_bytes(full) or b'')))
    say('@@journal')
    journal = read_bytes(os.path.join(d, JOURNAL_FILE)) or b''
    emit(journal if journal == b'' or journal.endswith(b'\n') else journal + b'\n')
    say('@@lock')
    owner = lock_holder(os.path.join(d, LOCK_FILE)) or (read_bytes(os.path.join(d, LEGACY_LOCK_DIR, 'owner')) or b'').decode('utf-8', 'replace').strip()
    if owner:
        say(owner)
    say('@@exits')
    # Exit records that jobs leave behind: how finished jobs ended, without sacct.
    exits = os.path.join(d, EXITS_DIR)
    for name in sorted(os.listdir(exits)) if os.path.isdir(exits) else []:
        data = read_bytes(os.path.join(exits, name)) if is_file(os.path.join(exits, name)) else None
        if data:
            say('%s %s' % (name, data.split(b'\n')[0].decode('utf-8', 'replace')))
    say('@@locks')
    # The lock each built resource recorded: its command is shell, which cannot run here.
    for address in req['locks']:
        data = read_bytes(os.path.join(d, PACKAGE_LOCKS_DIR, address, 'lock.txt'))
        if data is not None:
            say('%s %s' % (address, b64(data)))
    say('@@refused')
    dry_runs(req['scripts'], d, hashes)
    say('@@builds')
    say('@@runs')
    # Run records (run.json, one line each) in the log folders asked for, as the read script prints them.
    for folder in req.get('runDirs', []):
        logs = os.path.join(d, 'logs', folder)
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            data = read_bytes(os.path.join(logs, name)) if name.endswith('.run.json') and is_file(os.path.join(logs, name)) else None
            if data:
                say('logs/%s/%s %s' % (folder, name, data.split(b'\n')[0].decode('utf-8', 'replace')))
    say('@@queue')
    r = run(['squeue', '-h', '-r', '-t', 'all', '-u', user(), '-o', '%i|%T|%k'])
    if r.returncode == 0:
        for line in r.stdout.splitlines():
            fields = line.split('|')
            if len(fields) >= 3 and fields[2].startswith(req['commentPrefix']):
                say(line)
    say('@@end')


def dry_runs(scripts, d, hashes):
    """sbatch --test-only on every new or changed batch script; prints the refusals."""
    if not scripts:
        return
    tmp = tempfile.mkdtemp(prefix='hpcdk-')
    try:
        for i, script in enumerate(scripts):
            if hashes.get(script['path']) == script['sha256']:
                continue
            path = os.path.join(tmp, '%d.sh' % i)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(script['content'])
            r = run(['sbatch', '--test-only', path], cwd=d if os.path.isdir(d) else None, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                say('%s %s' % (script['path'], b64(r.stdout.encode('utf-8'))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def last(pattern, text):
    found = re.findall(pattern, text)
    return found[-1] if found else ''


def lock_holder(lock):
    try:
        return os.readlink(lock)
    except OSError:
        return ''


def linked(owner, lock):
    try:
        os.symlink(owner, lock)
        return True
    except FileExistsError:
        return False


def age(line):
    since = last(r' since=(\d*)', ' ' + line)
    return time.time() - int(since or 0)


def gone(owner):
    pid, host = last(r' pid=(\d*)', owner), last(r' host=(\S*)', owner)
    return host == socket.gethostname() and pid != '' and not alive(int(pid))


def stale(owner, ttl):
    since = last(r' since=(\d*)', owner)
    return gone(owner) or (since != '' and age(owner) > ttl)


def enter_gate(gate, token):
    mine = 'gate host=%s pid=%d since=%d token=%s' % (socket.gethostname(), os.getpid(), int(time.time()), token)
    for _ in range(400):
        if linked(mine, gate):
            return mine
        held = lock_holder(gate)
        if held == '':
            continue
        # A gate whose taker died in it: removed only while it is still that gate.
        if gone(held) or age(held) > GATE_TTL_SECONDS:
            if lock_holder(gate) == held:
                unlink(gate)
            continue
        time.sleep(0.05)
    return None


def take_lock(lock, owner, token, ttl):
    """The lock as lib/state/lock.ts takes it: a symlink whose target is the owner line, taken inside the gate."""
    gate = lock + '.gate'
    mine = enter_gate(gate, token)
    if mine is None:
        say('@@locked ' + (lock_holder(lock) or 'unknown (another apply is taking the lock)'))
        raise Stop(3)
    try:
        if linked(owner, lock):
            return honour_legacy_lock(lock, owner, ttl)
        # Inside the gate the lock can only disappear (its holder releases it), never be replaced.
        holder = lock_holder(lock)
        if holder != '' and stale(holder, ttl):
            say('@@note taking over a stale lock (%s)' % holder)
            unlink(lock)
        if linked(owner, lock):
            return honour_legacy_lock(lock, owner, ttl)
        holder = lock_holder(lock)
        # Gone between the link and the read: its holder released it, and inside the gate nobody else can take it.
        if holder == '' and linked(owner, lock):
            return honour_legacy_lock(lock, owner, ttl)
        say('@@locked ' + (holder or 'unknown'))
        raise Stop(3)
    finally:
        if lock_holder(gate) == mine:
            unlink(gate)


def honour_legacy_lock(lock, owner, ttl):
    """A lock folder from hpcdk 0.1 is honoured while its holder may be alive."""
    legacy = os.path.join(os.path.dirname(os.path.dirname(lock)), LEGACY_LOCK_DIR)
    if not os.path.isdir(legacy):
        return
    holder = (read_bytes(os.path.join(legacy, 'owner')) or b'').decode('utf-8', 'replace').strip()
    if holder != '' and not stale(holder, ttl):
        release_lock(lock, owner)
        say('@@locked ' + holder)
        raise Stop(3)
    if holder != '':
        say('@@note taking over a stale lock (%s)' % holder)
    shutil.rmtree(legacy, ignore_errors=True)


def unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def release_lock(lock, owner):
    if lock_holder(lock) == owner:
        unlink(lock)


class Applier:
    def __init__(self, req, d, incoming):
        self.req = req
        self.d = d
        self.incoming = incoming
        self.ids = {}
        self.active = None

    def journal(self, lines):
        now = int(time.time())
        with open(os.path.join(self.d, JOURNAL_FILE), 'a', encoding='utf-8') as f:
            f.write(''.join('%s %d\n' % (' '.join(words), now) for words in lines))

    def place(self, step):
        src = os.path.join(self.incoming, step['file'])
        dest = os.path.join(self.d, step['to'])
        os.chmod(src, step['mode'])
        os.makedirs(os.path.dirname(dest), mode=step.get('dirMode', 0o777), exist_ok=True)
        os.replace(src, dest)

    def active_job(self, comment):
        """An active job with this comment: one submitted by an apply killed before it recorded it."""
        if self.active is None:
            self.active = {}
            r = run(['squeue', '-h', '-u', user(), '-t', ACTIVE_STATES, '-o', '%i|%k'])
            for line in r.stdout.splitlines() if r.returncode == 0 else []:
                job, _, c = line.partition('|')
                # A pending array shows as 12_[0-3]: its job id is 12.
                self.active.setdefault(c.strip(), job.strip().split('_')[0])
        return self.active.get(comment)

    def submit(self, step):
        deps = ['singleton'] if step.get('singleton') else []
        for dep in step['dependencies']:
            deps.append('%s:%s' % (dep['type'], dep['jobId'] if 'jobId' in dep else self.ids.get(dep['submitted'], '')))
        points = step.get('points')
        if points is not None:
            # Written ahead, as the apply script does: a chunk submitted by a helper killed before its job lines is mapped back to its points.
            self.journal([['chunk', step['key'], step['identity']] + [w for p in points for w in (p['address'], p['identity'])]])
        job = self.active_job(step['comment'])
        if not job:
            for log in (step['stdout'], step['stderr']):
                os.makedirs(os.path.join(self.d, os.path.dirname(log)), exist_ok=True)
            env = dict(os.environ)
            # The job reads its identity for its run record (run.json); a chunk's tasks get theirs from the params file.
            env['HPCDK_IDENTITY'] = step['identity']
            if 'paramsFile' in step:
                env['HPCDK_PARAMS_FILE'] = os.path.join(self.d, step['paramsFile'])
            argv = ['sbatch'] + step['args'] + (['--dependency=' + ','.join(deps)] if deps else []) + [os.path.join(self.d, FILES_DIR, step['script'])]
            r = run(argv, cwd=self.d, env=env)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                raise Stop(1)
            job = r.stdout.strip().split(';')[0]
        key = step['key']
        if points is None:
            self.ids[key] = job
            self.journal([['job', key, step['identity'], job]])
            say('@@submitted %s %s' % (key, job))
        else:
            self.ids[key] = self.ids[key] + ':' + job if key in self.ids else job
            self.journal([['job', p['address'], p['identity'], '%s_%d' % (job, p['index'])] for p in points])
            say('@@submitted %s %s %d' % (key, job, len(points)))
        # What it was made of (the apply script's inputs line), after its job lines.
        self.journal(step.get('after', []))

    def step(self, step):
        op = step['op']
        if op == 'place':
            self.place(step)
        elif op == 'remove':
            try:
                os.remove(os.path.join(self.d, step['path']))
            except FileNotFoundError:
                pass
        elif op == 'cancel':
            run(['scancel'] + step['ids'], cwd=self.d)
        elif op == 'submit':
            self.submit(step)
            return
        if step.get('journal'):
            self.journal(step['journal'])
        for line in step.get('say', []):
            say('@@step ' + line)


def apply(req, d, incoming):
    os.makedirs(os.path.join(d, STATE_DIR), exist_ok=True)
    os.makedirs(os.path.join(d, FILES_DIR), exist_ok=True)
    lock = os.path.join(d, LOCK_FILE)
    token = '%s.%d.%s' % (socket.gethostname(), os.getpid(), base64.b32encode(os.urandom(5)).decode('ascii').lower())
    owner = '%s host=%s pid=%d since=%d token=%s' % (req['owner'], socket.gethostname(), os.getpid(), int(time.time()), token)
    take_lock(lock, owner, token, req['ttl'])
    try:
        journal = read_bytes(os.path.join(d, JOURNAL_FILE)) or b''
        serial = sum(1 for line in journal.split(b'\n') if line != b'')
        if serial != req['serial']:
            say('@@stale %d' % serial)
            raise Stop(4)
        applier = Applier(req, d, incoming)
        for step in req['steps']:
            applier.step(step)
        say('@@done')
    finally:
        release_lock(lock, owner)


def unlock(d):
    unlink(os.path.join(d, LOCK_GATE_FILE))
    lock = os.path.join(d, LOCK_FILE)
    if os.path.islink(lock):
        say(lock_holder(lock) or 'unknown')
        os.unlink(lock)
    legacy = os.path.join(d, LEGACY_LOCK_DIR)
    if os.path.isdir(legacy):
        say((read_bytes(os.path.join(legacy, 'owner')) or b'unknown\n').decode('utf-8', 'replace').strip())
        shutil.rmtree(legacy, ignore_errors=True)


def forget_old_requests(folder):
    """Requests nobody ran (a lost connection) are removed after a day."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        try:
            if time.time() - os.lstat(path).st_mtime > 86400:
                os.remove(path)
        except OSError:
            pass


def stop_on(signum, _frame):
    raise Stop(128 + signum)


def main(argv):
    mode, request_path = argv[1], argv[2]
    with open(request_path, encoding='utf-8') as f:
        req = json.load(f)
    os.remove(request_path)
    forget_old_requests(os.path.dirname(request_path))
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.path.join(base, req['stack'])
    incoming = os.path.join(d, INCOMING_DIR, req.get('incoming', '-'))
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop_on)
    try:
        if mode == 'read':
            read(req, d)
        elif mode == 'apply':
            apply(req, d, incoming)
        elif mode == 'unlock':
            unlock(d)
        else:
            raise Refused('unknown mode %s' % mode)
        return 0
    except Stop as e:
        return e.code
    except Refused as e:
        sys.stderr.write('hpcdk: %s\n' % e)
        return 6
    except BrokenPipeError:
        # The client went away; the lock is already released.
        return 141
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
