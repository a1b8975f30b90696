#!/usr/bin/env node
// BullMQ features beyond plain processing, each on its own queue against a server:
// priorities, progress and job logs, job states, permanent failure and retry, promotion and
// changed delays, removal, removeOnComplete, deduplication, flows (parent and children),
// job schedulers, stalled-job recovery after a lock expires, getWorkers (CLIENT LIST),
// global concurrency, metrics, clean/drain and event trimming.
//
//   node bullmq_features.js HOST PORT
//
// Prints `ok <scenario>` per scenario and one line `SUMMARY scenarios=N passed=N`; exits 0
// when every check holds, 1 on the first failed check, 2 on bad usage. The database must be
// empty and is left empty. Run by crates/server/tests/node_clients.rs against an in-process
// Cinnabar.
'use strict';

const assert = require('assert').strict;
const { Queue, Worker, QueueEvents, FlowProducer, Job } = require('bullmq');

const [host, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: node bullmq_features.js HOST PORT');
    process.exit(2);
}

let step = 'connect';
function fail(err) {
    console.error('bullmq_features.js: FAILED at step "' + step + '"');
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
}
const watchdog = setTimeout(() => fail(new Error('timed out after 55 s')), 55000);
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);

const connection = () => ({ host, port, maxRetriesPerRequest: null });
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, predicate) {
    for (;;) {
        if (await predicate()) return;
        step = 'waiting for ' + what;
        await pause(10);
    }
}

// Everything a scenario opened, closed (and its queue obliterated) when it ends.
let opened = [];
function track(x) {
    if (typeof x.on === 'function') x.on('error', fail);
    opened.push(x);
    return x;
}
const queueOf = (name, opts = {}) => track(new Queue(name, { connection: connection(), ...opts }));
const workerOf = (name, fn, opts = {}) =>
    track(new Worker(name, fn, { connection: connection(), drainDelay: 1, ...opts }));

const scenarios = [];
function scenario(name, fn) {
    scenarios.push({ name, fn });
}

scenario('priorities', async (q) => {
    const queue = queueOf(q);
    await queue.pause();
    assert.equal(await queue.isPaused(), true);
    const prios = [5, 1, 3, 0, 2, 1];
    for (const [i, priority] of prios.entries()) await queue.add('p', { i }, { priority });
    const counts = await queue.getJobCounts('prioritized', 'paused', 'waiting');
    assert.deepEqual(counts, { prioritized: 5, paused: 1, waiting: 0 });
    assert.deepEqual(await queue.getCountsPerPriority([0, 1, 2, 3, 5]),
        { 0: 1, 1: 2, 2: 1, 3: 1, 5: 1 });
    const order = [];
    workerOf(q, async (job) => { order.push(job.data.i); });
    await queue.resume();
    await until('all processed', async () => order.length === prios.length);
    // Priority 0 (none) first, then by priority, equal priorities in insertion order.
    assert.deepEqual(order, [3, 1, 5, 4, 2, 0]);
});

scenario('progress and logs', async (q) => {
    const queue = queueOf(q);
    const events = track(new QueueEvents(q, { connection: connection() }));
    await events.waitUntilReady();
    const progress = [];
    events.on('progress', ({ data }) => progress.push(data));
    workerOf(q, async (job) => {
        await job.updateProgress(50);
        await job.log('half way');
        await job.updateProgress({ done: true });
        await job.log('done');
        return 'r';
    });
    const job = await queue.add('x', { a: 1 });
    assert.equal(await job.waitUntilFinished(events), 'r');
    const done = await Job.fromId(queue, job.id);
    assert.deepEqual(done.progress, { done: true });
    assert.deepEqual(await queue.getJobLogs(job.id), { logs: ['half way', 'done'], count: 2 });
    assert.deepEqual(await queue.getJobLogs(job.id, 0, 0, false), { logs: ['done'], count: 2 });
    await until('progress events', async () => progress.length === 2);
    assert.deepEqual(progress, [50, { done: true }]);
});

scenario('job states', async (q) => {
    const queue = queueOf(q);
    const waiting = await queue.add('w', {});
    const delayed = await queue.add('d', {}, { delay: 60000 });
    const prioritized = await queue.add('p', {}, { priority: 4 });
    assert.equal(await waiting.getState(), 'waiting');
    assert.equal(await delayed.getState(), 'delayed');
    assert.equal(await prioritized.getState(), 'prioritized');
    assert.equal(await queue.getJobState('nope'), 'unknown');
    const worker = workerOf(q, null, { autorun: false });
    const token = 'token-1';
    const active = await worker.getNextJob(token);
    assert.equal(active.id, waiting.id);
    assert.equal(await active.getState(), 'active');
    await active.moveToCompleted('fine', token, false);
    assert.equal(await active.getState(), 'completed');
    const next = await worker.getNextJob(token);
    assert.equal(next.id, prioritized.id);
    await next.moveToFailed(new Error('manual'), token);
    assert.equal(await next.getState(), 'failed');
    assert.deepEqual(await queue.getJobCounts('completed', 'failed', 'delayed', 'waiting'),
        { completed: 1, failed: 1, delayed: 1, waiting: 0, paused: 0 });
    const jobs = await queue.getJobs(['completed', 'failed', 'delayed'], 0, -1, true);
    assert.deepEqual(jobs.map((j) => j.id).sort(), [waiting.id, delayed.id, prioritized.id].sort());
});

scenario('failure and retry', async (q) => {
    const queue = queueOf(q);
    let calls = 0;
    let allow = false;
    workerOf(q, async () => {
        calls += 1;
        if (!allow) throw new Error('always');
        return 'ok';
    });
    const job = await queue.add('f', {}, { attempts: 2, backoff: 10 });
    await until('failed', async () => (await queue.getJobCounts('failed')).failed === 1);
    const failed = await Job.fromId(queue, job.id);
    assert.equal(failed.failedReason, 'always');
    assert.equal(failed.attemptsMade, 2);
    assert.equal(failed.stacktrace.length, 2);
    assert.equal(calls, 2);
    allow = true;
    await failed.retry('failed');
    await until('completed', async () => (await queue.getJobCounts('completed')).completed === 1);
    assert.equal(calls, 3);
    const again = await queue.add('f2', {}, {});
    await until('completed 2', async () => (await queue.getJobCounts('completed')).completed === 2);
    assert.equal((await Job.fromId(queue, again.id)).returnvalue, 'ok');
});

scenario('promote and change delay', async (q) => {
    const queue = queueOf(q);
    const seen = [];
    workerOf(q, async (job) => { seen.push(job.data.n); });
    const a = await queue.add('a', { n: 'a' }, { delay: 60000 });
    const b = await queue.add('b', { n: 'b' }, { delay: 60000 });
    const c = await queue.add('c', { n: 'c' }, { delay: 60000 });
    await a.promote();
    await b.changeDelay(20);
    await until('a and b', async () => seen.length === 2);
    assert.deepEqual(seen.sort(), ['a', 'b']);
    assert.equal(await c.getState(), 'delayed');
    await queue.promoteJobs();
    await until('c', async () => seen.length === 3);
});

scenario('remove, update, change priority', async (q) => {
    const queue = queueOf(q);
    const a = await queue.add('a', { v: 1 });
    const b = await queue.add('b', { v: 2 }, { priority: 3 });
    await a.updateData({ v: 10 });
    assert.deepEqual((await Job.fromId(queue, a.id)).data, { v: 10 });
    await b.changePriority({ priority: 1 });
    assert.equal((await Job.fromId(queue, b.id)).priority, 1);
    assert.equal(await queue.remove(a.id), 1);
    assert.equal(await Job.fromId(queue, a.id), undefined);
    await b.remove();
    assert.deepEqual(await queue.getJobCounts('waiting', 'prioritized'),
        { waiting: 0, paused: 0, prioritized: 0 });
});

scenario('removeOnComplete and removeOnFail', async (q) => {
    const queue = queueOf(q, { defaultJobOptions: { removeOnComplete: 3, removeOnFail: true } });
    let done = 0;
    workerOf(q, async (job) => {
        done += 1;
        if (job.data.fail) throw new Error('x');
    });
    for (let i = 0; i < 8; i++) await queue.add('j', { fail: i === 7 });
    await until('all 8', async () => done === 8);
    await until('counts', async () => {
        const c = await queue.getJobCounts('completed', 'failed');
        return c.completed === 3 && c.failed === 0;
    });
    const kept = await queue.getJobs(['completed']);
    assert.equal(kept.length, 3);
});

scenario('deduplication', async (q) => {
    const queue = queueOf(q);
    const a = await queue.add('d', { n: 1 }, { deduplication: { id: 'same' } });
    const b = await queue.add('d', { n: 2 }, { deduplication: { id: 'same' } });
    assert.equal(b.id, a.id);
    assert.equal(await queue.getDeduplicationJobId('same'), a.id);
    assert.equal((await queue.getJobCounts('waiting')).waiting, 1);
    const t = await queue.add('t', {}, { deduplication: { id: 'ttl', ttl: 30 } });
    await until('ttl gone', async () => (await queue.getDeduplicationJobId('ttl')) === null);
    const t2 = await queue.add('t', {}, { deduplication: { id: 'ttl', ttl: 30 } });
    assert.notEqual(t2.id, t.id);
});

scenario('flow', async (q) => {
    const flow = track(new FlowProducer({ connection: connection() }));
    const order = [];
    workerOf(q, async (job) => {
        order.push(job.name);
        if (job.name === 'parent') {
            const values = await job.getChildrenValues();
            return Object.values(values).sort((x, y) => x - y);
        }
        return job.data.n * 10;
    }, { concurrency: 3 });
    const tree = await flow.add({
        name: 'parent', queueName: q, data: {},
        children: [1, 2, 3].map((n) => ({ name: 'child', queueName: q, data: { n } })),
    });
    assert.equal(await tree.job.getState(), 'waiting-children');
    const queue = queueOf(q);
    await until('parent done', async () => (await tree.job.getState()) === 'completed');
    assert.equal(order[order.length - 1], 'parent');
    assert.deepEqual((await Job.fromId(queue, tree.job.id)).returnvalue, [10, 20, 30]);
    const deps = await tree.job.getDependenciesCount();
    assert.deepEqual(deps, { processed: 3, unprocessed: 0, ignored: 0, failed: 0 });
});

scenario('dependency pagination', async (q) => {
    // 150 children: the parent's dependency set and processed hash are paged through with
    // SSCAN/HSCAN (Job.getDependencies from the client, Queue.getDependencies in Lua).
    const flow = track(new FlowProducer({ connection: connection() }));
    const queue = queueOf(q);
    const n = 150;
    const tree = await flow.add({
        name: 'parent', queueName: q, data: {},
        children: Array.from({ length: n }, (_, i) => ({ name: 'child', queueName: q, data: { i } })),
    });
    const parent = tree.job;
    const pendingIds = new Set();
    let cursor = 0;
    do {
        const page = await parent.getDependencies({ unprocessed: { cursor, count: 40 } });
        for (const key of page.unprocessed) pendingIds.add(key);
        cursor = page.nextUnprocessedCursor;
    } while (cursor);
    assert.equal(pendingIds.size, n);
    const pending = await queue.getDependencies(parent.id, 'pending', 0, -1);
    assert.equal(pending.total, n);
    assert.equal(new Set(pending.items).size, n);
    assert.equal(pending.jobs.length, n);
    const firstPage = await queue.getDependencies(parent.id, 'pending', 0, 9);
    assert.equal(firstPage.items.length, 10);

    workerOf(q, async (job) => (job.name === 'child' ? job.data.i : 'parent done'),
        { concurrency: 10 });
    await until('parent done', async () => (await parent.getState()) === 'completed');
    const processed = new Map();
    cursor = 0;
    do {
        const page = await parent.getDependencies({ processed: { cursor, count: 40 } });
        for (const [key, value] of Object.entries(page.processed)) processed.set(key, value);
        cursor = page.nextProcessedCursor;
    } while (cursor);
    assert.equal(processed.size, n);
    assert.deepEqual([...processed.values()].sort((x, y) => x - y), [...Array(n).keys()]);
    const done = await queue.getDependencies(parent.id, 'processed', 0, -1);
    assert.equal(done.total, n);
    assert.equal(done.items.length, n);
});

scenario('orphans and prometheus', async (q) => {
    const queue = queueOf(q);
    const kept = await queue.add('k', {});
    const client = await queue.client;
    // A job hash that no state set references, as a crash between two writes could leave.
    await client.hset(`bull:${q}:orphan-1`, 'name', 'o', 'data', '{}', 'timestamp', '1');
    await client.rpush(`bull:${q}:orphan-1:logs`, 'x');
    assert.equal(await queue.removeOrphanedJobs(), 1);
    assert.equal(await client.exists(`bull:${q}:orphan-1`, `bull:${q}:orphan-1:logs`), 0);
    assert.equal(await queue.getJobState(kept.id), 'waiting');
    const text = await queue.exportPrometheusMetrics();
    assert.ok(text.includes(`bullmq_job_count{queue="${q}", state="waiting"} 1`), text);
});

scenario('job scheduler', async (q) => {
    const queue = queueOf(q);
    const runs = [];
    workerOf(q, async (job) => { runs.push(job.name); });
    await queue.upsertJobScheduler('every', { every: 50, limit: 3 }, { name: 'tick', data: {} });
    const schedulers = await queue.getJobSchedulers();
    assert.equal(schedulers.length, 1);
    assert.equal(schedulers[0].key, 'every');
    await until('three runs', async () => runs.length === 3);
    assert.deepEqual(runs, ['tick', 'tick', 'tick']);
    assert.equal(await queue.removeJobScheduler('every'), true);
    assert.equal(await queue.getJobSchedulersCount(), 0);
});

scenario('stalled job recovery', async (q) => {
    const queue = queueOf(q);
    // A worker takes the job and "crashes": its lock (200 ms) is never renewed.
    const crashed = workerOf(q, null, { autorun: false, lockDuration: 200 });
    const job = await queue.add('s', {});
    const taken = await crashed.getNextJob('lost-token');
    assert.equal(taken.id, job.id);
    const stalled = [];
    let ranBy2 = 0;
    const w2 = workerOf(q, async () => { ranBy2 += 1; return 'recovered'; },
        { stalledInterval: 100, lockDuration: 200 });
    w2.on('stalled', (id) => stalled.push(id));
    await until('recovered', async () => (await job.getState()) === 'completed');
    assert.deepEqual(stalled, [job.id]);
    assert.equal(ranBy2, 1);
});

scenario('getWorkers', async (q) => {
    const queue = queueOf(q);
    const w1 = workerOf(q, async () => {}, { name: 'alpha' });
    const w2 = workerOf(q, async () => {});
    await w1.waitUntilReady();
    await w2.waitUntilReady();
    await until('two workers', async () => (await queue.getWorkersCount()) === 2);
    const workers = await queue.getWorkers();
    assert.equal(workers.length, 2);
    for (const w of workers) {
        assert.equal(w.name, q);
        assert.ok(w.rawname.startsWith(`bull:${Buffer.from(q).toString('base64')}`), w.rawname);
        assert.ok(w.addr && w.id && w.age !== undefined, JSON.stringify(w));
    }
    assert.ok(workers.some((w) => w.rawname.endsWith(':w:alpha')), JSON.stringify(workers));
});

scenario('global concurrency and rate limit', async (q) => {
    const queue = queueOf(q);
    await queue.setGlobalConcurrency(1);
    assert.equal(await queue.getGlobalConcurrency(), 1);
    await queue.setGlobalRateLimit(5, 100);
    assert.deepEqual(await queue.getGlobalRateLimit(), { max: 5, duration: 100 });
    let running = 0;
    let most = 0;
    let done = 0;
    const work = async () => {
        running += 1;
        most = Math.max(most, running);
        await pause(2);
        running -= 1;
        done += 1;
    };
    workerOf(q, work, { concurrency: 4 });
    workerOf(q, work, { concurrency: 4 });
    for (let i = 0; i < 12; i++) await queue.add('g', { i });
    await until('all 12', async () => done === 12);
    assert.equal(most, 1);
    assert.ok((await queue.getRateLimitTtl(5)) >= -2);
    await queue.removeGlobalConcurrency();
    await queue.removeGlobalRateLimit();
    assert.equal(await queue.getGlobalConcurrency(), null);
});

scenario('metrics', async (q) => {
    const queue = queueOf(q);
    let done = 0;
    workerOf(q, async () => { done += 1; }, { metrics: { maxDataPoints: 10 } });
    for (let i = 0; i < 5; i++) await queue.add('m', {});
    await until('five', async () => (await queue.getJobCounts('completed')).completed === 5);
    const metrics = await queue.getMetrics('completed');
    assert.equal(metrics.meta.count, 5);
    // One data point per whole minute since the first completion: none yet, or one.
    assert.ok(metrics.data.length <= 1, JSON.stringify(metrics));
    assert.equal(metrics.count, metrics.data.length);
});

scenario('clean, drain, trim events', async (q) => {
    const queue = queueOf(q);
    let done = 0;
    const w = workerOf(q, async () => { done += 1; });
    for (let i = 0; i < 4; i++) await queue.add('c', {});
    await until('four', async () => done === 4);
    await until('four completed', async () => (await queue.getJobCounts('completed')).completed === 4);
    await w.close();
    const cleaned = await queue.clean(0, 10, 'completed');
    assert.equal(cleaned.length, 4);
    for (let i = 0; i < 3; i++) await queue.add('c', {});
    await queue.add('c', {}, { delay: 60000 });
    await queue.drain(true);
    assert.deepEqual(await queue.getJobCounts('waiting', 'delayed'),
        { waiting: 0, paused: 0, delayed: 0 });
    await queue.trimEvents(0);
    const client = await queue.client;
    assert.equal(await client.xlen(`bull:${q}:events`), 0);
});

async function main() {
    const admin = new Queue('admin', { connection: connection() });
    admin.on('error', fail);
    const client = await admin.client;
    step = 'empty database';
    const before = (await client.keys('*')).filter((k) => k !== 'bull:admin:meta');
    assert.deepEqual(before, [], 'the database must be empty');
    let passed = 0;
    for (const { name, fn } of scenarios) {
        step = name;
        opened = [];
        const q = 'f-' + name.toLowerCase().replace(/[^a-z]+/g, '-');
        await fn(q);
        step = name + ': close';
        for (const x of opened.reverse()) await x.close();
        const cleanup = new Queue(q, { connection: connection() });
        await cleanup.obliterate({ force: true });
        await cleanup.close();
        passed += 1;
        console.log('ok ' + name);
    }
    await admin.obliterate({ force: true });
    // The global rate limiter's key expires after its 100 ms window.
    await until('database left empty', async () => (await client.dbsize()) === 0);
    await admin.close();
    console.log(`SUMMARY scenarios=${scenarios.length} passed=${passed}`);
    clearTimeout(watchdog);
}

main().catch(fail);
