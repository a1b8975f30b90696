#!/usr/bin/env node
// A BullMQ job queue against a server: a producer adds 1,000 jobs; two Workers (each with its
// own connections and concurrency 8) process them; every tenth job fails its first attempt
// and is retried after a fixed 50 ms backoff, every 25th fails twice and is retried with an
// exponential backoff (20 ms, then 40 ms); every seventh is delayed by 50–200 ms. A
// QueueEvents listener follows the queue's event stream (XREAD BLOCK).
//
//   node bullmq_queue.js HOST PORT
//
// Checks, from the workers' own logs, the worker and QueueEvents 'completed' events and the
// queue itself (getJobCounts, the completed set, each job's hash): every job completed exactly
// once, none missing, each failed exactly as planned and was retried no sooner than its
// backoff, no delayed job ran before it was due. Prints one line
//   SUMMARY jobs=1000 completed=... duplicates=... missing=... failed_attempts=... ...
// and exits 0 when every check holds, 1 on the first failed check, 2 on bad usage.
//
// The database must be empty and is left empty (Queue.obliterate). Run by
// crates/server/tests/node_clients.rs against an in-process Cinnabar.
'use strict';

const assert = require('assert').strict;
const { Queue, Worker, QueueEvents } = require('bullmq');

const [host, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: node bullmq_queue.js HOST PORT');
    process.exit(2);
}

const JOBS = 1000;
const CONCURRENCY = 8;
const QUEUE = 'cinnabar-bullmq';

let step = 'connect';
function fail(err) {
    console.error('bullmq_queue.js: FAILED at step "' + step + '"');
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
}
const watchdog = setTimeout(() => fail(new Error('timed out after 55 s')), 55000);
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);

// Workers need maxRetriesPerRequest: null (their blocking commands must not be cut short).
const connection = () => ({ host, port, maxRetriesPerRequest: null, enableOfflineQueue: true });

// The plan for job i: how many attempts fail, its retry options, its delay.
function plan(i) {
    const p = { fails: 0, opts: {}, delay: 0 };
    if (i % 25 === 1) {
        p.fails = 2;
        p.opts = { attempts: 4, backoff: { type: 'exponential', delay: 20 } };
    } else if (i % 10 === 0) {
        p.fails = 1;
        p.opts = { attempts: 3, backoff: { type: 'fixed', delay: 50 } };
    }
    if (i % 7 === 3) {
        p.delay = 50 + (i % 4) * 50;
        p.opts.delay = p.delay;
    }
    return p;
}
// The backoff before attempt k+1 after attempt k (1-based) failed.
function backoff(opts, k) {
    if (!opts.backoff) return 0;
    return opts.backoff.type === 'fixed' ? opts.backoff.delay : 2 ** (k - 1) * opts.backoff.delay;
}

// Each worker's own log: attempts started, planned failures thrown, successes returned.
function newLog(name) {
    return { name, starts: [], failures: [], successes: [], completedEvents: [], failedEvents: [] };
}
const logs = [newLog('w1'), newLog('w2')];
// Per job id: [{ start, failedAt }] across both workers, in order.
const attempts = new Map();

function processorFor(log) {
    return async (job) => {
        const now = Date.now();
        log.starts.push(job.id);
        const list = attempts.get(job.id) || [];
        list.push({ start: now, attemptsMade: job.attemptsMade, worker: log.name });
        attempts.set(job.id, list);
        // A little asynchronous work, so each worker holds several jobs at once.
        await new Promise((resolve) => setTimeout(resolve, 1 + (job.data.i % 3)));
        if (job.attemptsMade < job.data.fails) {
            list[list.length - 1].failedAt = Date.now();
            log.failures.push(job.id);
            throw new Error('planned failure ' + (job.attemptsMade + 1) + ' of job ' + job.data.i);
        }
        log.successes.push(job.id);
        return { i: job.data.i, by: log.name };
    };
}

function newWorker(log) {
    const w = new Worker(QUEUE, processorFor(log), {
        connection: connection(),
        concurrency: CONCURRENCY,
        drainDelay: 1,
    });
    w.on('error', fail);
    w.on('completed', (job) => log.completedEvents.push(job.id));
    w.on('failed', (job) => log.failedEvents.push(job.id));
    return w;
}

async function waitFor(what, predicate) {
    for (;;) {
        if (await predicate()) return;
        step = 'waiting for ' + what;
        await new Promise((resolve) => setTimeout(resolve, 25));
    }
}

function countBy(ids) {
    const m = new Map();
    for (const id of ids) m.set(id, (m.get(id) || 0) + 1);
    return m;
}

async function main() {
    const queue = new Queue(QUEUE, { connection: connection() });
    queue.on('error', fail);
    step = 'empty database';
    const client = await queue.client;
    // The Queue has written at most its meta hash (its version and options).
    const before = (await client.keys('*')).filter((k) => k !== `bull:${QUEUE}:meta`);
    assert.deepEqual(before, [], 'the database must be empty');

    const events = new QueueEvents(QUEUE, { connection: connection() });
    events.on('error', fail);
    const eventCompleted = [];
    const eventDelayed = [];
    events.on('completed', ({ jobId }) => eventCompleted.push(jobId));
    // 'delayed': a job added with a delay, or a failed attempt moved to wait out its backoff.
    events.on('delayed', ({ jobId }) => eventDelayed.push(jobId));

    step = 'workers ready';
    const workers = logs.map(newWorker);
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    await Promise.all(workers.map((w) => w.waitUntilReady()));

    step = 'add jobs';
    const plans = [];
    const ids = [];
    // Half one by one (Queue.add), half in bulk (Queue.addBulk, a MULTI of addJob scripts).
    const bulk = [];
    for (let i = 0; i < JOBS; i++) {
        const p = plan(i);
        plans.push(p);
        const data = { i, fails: p.fails };
        if (i < JOBS / 2) {
            const job = await queue.add('job', data, p.opts);
            ids.push(job.id);
        } else {
            bulk.push({ name: 'job', data, opts: p.opts });
        }
    }
    for (const job of await queue.addBulk(bulk)) ids.push(job.id);
    assert.equal(new Set(ids).size, JOBS, 'every added job has its own id');
    const idOf = new Map(ids.map((id, i) => [id, i]));

    step = 'process';
    await waitFor('every job completed', async () => {
        const counts = await queue.getJobCounts('completed');
        return counts.completed >= JOBS;
    });
    // Events arrive over the stream after the move to completed.
    await waitFor('every completed event', async () =>
        eventCompleted.length >= JOBS &&
        logs.reduce((n, l) => n + l.completedEvents.length, 0) >= JOBS);

    step = 'close workers';
    await Promise.all(workers.map((w) => w.close()));

    step = 'job counts';
    const counts = await queue.getJobCounts(
        'completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized', 'paused', 'waiting-children');
    assert.deepEqual(counts, {
        completed: JOBS, failed: 0, active: 0, waiting: 0, delayed: 0, prioritized: 0,
        paused: 0, 'waiting-children': 0,
    });

    step = 'completed set';
    const completedJobs = await queue.getJobs(['completed'], 0, -1);
    const completedIds = completedJobs.map((j) => j.id);
    assert.equal(new Set(completedIds).size, JOBS, 'completed set holds each job once');

    // Every source of completions: the workers' own logs, their events, the queue's events.
    const successes = logs.flatMap((l) => l.successes);
    const sources = {
        'worker logs': successes,
        'worker completed events': logs.flatMap((l) => l.completedEvents),
        'QueueEvents completed': eventCompleted,
        'completed set': completedIds,
    };
    let duplicates = 0;
    let missing = 0;
    for (const [name, list] of Object.entries(sources)) {
        const seen = countBy(list);
        const dup = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
        const miss = ids.filter((id) => !seen.has(id));
        const extra = [...seen.keys()].filter((id) => !idOf.has(id));
        duplicates += dup.length;
        missing += miss.length;
        assert.deepEqual({ dup, miss, extra }, { dup: [], miss: [], extra: [] }, name);
    }

    step = 'attempts and backoff';
    let failedAttempts = 0;
    let retriedJobs = 0;
    let delayedJobs = 0;
    let early = 0;
    let earlyRetries = 0;
    const byId = new Map(completedJobs.map((j) => [j.id, j]));
    for (const [id, i] of idOf) {
        const p = plans[i];
        const job = byId.get(id);
        const runs = attempts.get(id) || [];
        assert.equal(runs.length, p.fails + 1, `job ${i} started ${runs.length} times`);
        assert.equal(job.attemptsMade, p.fails + 1, `job ${i} attemptsMade`);
        assert.deepEqual(job.returnvalue, { i, by: runs[runs.length - 1].worker }, `job ${i} returnvalue`);
        assert.ok(job.finishedOn >= job.processedOn, `job ${i} finishedOn`);
        runs.forEach((r, k) => assert.equal(r.attemptsMade, k, `job ${i} attempt ${k + 1}`));
        failedAttempts += p.fails;
        if (p.fails > 0) retriedJobs += 1;
        for (let k = 1; k < runs.length; k++) {
            if (runs[k].start < runs[k - 1].failedAt + backoff(p.opts, k)) earlyRetries += 1;
        }
        if (p.delay > 0) {
            delayedJobs += 1;
            if (runs[0].start < job.timestamp + p.delay) early += 1;
            assert.equal(job.opts.delay, p.delay, `job ${i} delay option`);
        }
    }
    const workerFailures = logs.reduce((n, l) => n + l.failures.length, 0);
    const failedEvents = logs.reduce((n, l) => n + l.failedEvents.length, 0);
    assert.equal(workerFailures, failedAttempts, 'planned failures thrown');
    assert.equal(failedEvents, failedAttempts, 'worker failed events');
    await waitFor('every delayed event', async () =>
        eventDelayed.length >= delayedJobs + failedAttempts);
    assert.equal(eventDelayed.length, delayedJobs + failedAttempts, 'QueueEvents delayed events');
    assert.equal(early, 0, 'delayed jobs started before they were due');
    assert.equal(earlyRetries, 0, 'retries started before their backoff elapsed');
    for (const l of logs) assert.ok(l.successes.length > 0, `worker ${l.name} completed no job`);

    console.log(
        `SUMMARY jobs=${JOBS} completed=${counts.completed} duplicates=${duplicates} ` +
        `missing=${missing} failed_attempts=${failedAttempts} retried_jobs=${retriedJobs} ` +
        `delayed_jobs=${delayedJobs} early_delayed=${early} early_retries=${earlyRetries} ` +
        `w1=${logs[0].successes.length} w2=${logs[1].successes.length} ` +
        `events_completed=${eventCompleted.length} events_delayed=${eventDelayed.length}`);

    step = 'cleanup';
    await events.close();
    await queue.obliterate({ force: true });
    assert.equal(await client.dbsize(), 0, 'obliterate leaves the database empty');
    await queue.close();
    clearTimeout(watchdog);
}

main().catch(fail);
