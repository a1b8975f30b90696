#!/usr/bin/env node
// Plays the traffic of Redis's "basic shopping cart" demo application
// (redis-developer/basic-redis-shopping-chart-nodejs: Express + npm redis@3 + redis-rejson@1)
// against a server and asserts every reply. Exits 0 when all replies are as Redis (with the
// RedisJSON module) gives them, 1 on the first mismatch, 2 on bad usage.
//
//   node shopping_cart.js HOST PORT
//
// The database must be empty (the script checks DBSIZE first) and is left empty at the end.
// Run by crates/server/tests/node_clients.rs against an in-process Cinnabar.
'use strict';

const assert = require('assert').strict;
const { promisify } = require('util');
const redis = require('redis');
const Command = require('redis/lib/command');
const rejson = require('redis-rejson');
const { products } = require('./products.json');

rejson(redis); // adds json_set, json_get, ... to RedisClient, as the demo does

const [host, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: node shopping_cart.js HOST PORT');
    process.exit(2);
}

const NO_PASSWORD =
    'ERR AUTH <password> called without any password configured for the default user. ' +
    'Are you sure your configuration is correct?';
const WARNING = 'Warning: Redis server does not require a password, but a password was supplied.';

function fail(err) {
    console.error('shopping_cart.js: FAILED at step "' + step + '"');
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
}

let step = 'connect';
const watchdog = setTimeout(() => fail(new Error('timed out after 60 s')), 60000);
process.on('unhandledRejection', fail);

// The demo passes `password: REDIS_PASSWORD`, empty when the server has none: redis@3 then
// sends AUTH "" before anything else, treats Redis's "no password configured" error as
// success and emits a warning instead. Any 'error' event is a failure.
const warnings = [];
const client = redis.createClient({ host, port, password: '', connect_timeout: 10000 });
client.on('warning', (w) => warnings.push(String(w)));
client.on('error', fail);

// Promisified commands, as the demo's RedisClient service does.
const cmd = {};
for (const name of [
    'json_get', 'json_set', 'json_type', 'json_numincrby', 'json_del', 'json_objkeys',
    'hgetall', 'hset', 'hget', 'hdel', 'hincrby', 'hlen', 'scan', 'del', 'exists', 'type',
    'set', 'get', 'ttl', 'dbsize', 'info', 'send_command',
]) {
    cmd[name] = promisify(client[name]).bind(client);
}

// The demo's eachScan: SCAN from cursor 0 with MATCH until the cursor is '0' again.
async function eachScan(pattern, count) {
    let cursor = '0';
    let keys = [];
    let rounds = 0;
    do {
        const args = [cursor, 'MATCH', pattern];
        if (count) args.push('COUNT', String(count));
        const reply = await cmd.scan(...args);
        assert.ok(Array.isArray(reply) && reply.length === 2, 'SCAN reply shape: ' + JSON.stringify(reply));
        const [next, batch] = reply;
        assert.equal(typeof next, 'string', 'SCAN cursor is a bulk string');
        assert.ok(/^[0-9]+$/.test(next), 'SCAN cursor is numeric: ' + next);
        assert.ok(Array.isArray(batch), 'SCAN keys are an array');
        keys = keys.concat(batch);
        cursor = next;
        rounds += 1;
        assert.ok(rounds < 10000, 'SCAN did not come back to cursor 0');
    } while (cursor !== '0');
    // SCAN may return a key twice; the demo does not care, the assertions below do.
    return [...new Set(keys)].sort();
}

async function expectError(promise, text) {
    let err = null;
    try {
        const reply = await promise;
        err = new Error('expected the error "' + text + '", got the reply ' + JSON.stringify(reply));
    } catch (e) {
        assert.equal(e.message, text);
        assert.equal(e.name, 'ReplyError');
        return e;
    }
    throw err;
}

const productKey = (p) => 'product:' + p.id;

async function main() {
    step = 'ready check';
    await new Promise((resolve) => client.once('ready', resolve));
    // redis@3 sends INFO before 'ready' and keeps the parsed fields.
    const info = client.server_info;
    assert.ok(info && typeof info.redis_version === 'string', 'INFO has redis_version: ' + JSON.stringify(info));
    assert.deepEqual(info.versions.length, 3, 'redis_version is x.y.z: ' + info.redis_version);
    assert.ok(info.versions[0] >= 6, 'redis_version >= 6: ' + info.redis_version);
    assert.equal(info.loading, '0', 'INFO loading:0');

    step = 'AUTH "" at connect';
    // auth_callback matched the server's error text against
    // /no password is set|called without any password configured/ and warned instead.
    assert.deepEqual(warnings, [WARNING], 'AUTH "" was answered with the "no password" error');
    assert.equal(client.connected, true);

    step = 'AUTH "" raw reply';
    // client.auth() and send_command('AUTH') both go through that callback, which turns the
    // error into 'OK'; the client's own command queue gives the parsed error itself, whose
    // text must be Redis's exactly.
    const rawAuth = new Promise((resolve, reject) =>
        client.internal_send_command(new Command('auth', [''], (err, res) => (err ? reject(err) : resolve(res)))),
    );
    const authErr = await expectError(rawAuth, NO_PASSWORD);
    assert.equal(authErr.code, 'ERR');
    assert.equal(authErr.command, 'AUTH');

    step = 'module probe';
    const sections = await cmd.info('modules');
    assert.match(sections, /^# Modules\r\n/m, 'INFO modules has a "# Modules" section');
    assert.match(sections, /^module:name=ReJSON,ver=\d+,/m, 'INFO modules lists ReJSON');
    const modules = await cmd.send_command('MODULE', ['LIST']);
    const rejsonEntry = modules
        .map((m) => {
            const o = {};
            for (let i = 0; i + 1 < m.length; i += 2) o[m[i]] = m[i + 1];
            return o;
        })
        .find((o) => o.name === 'ReJSON');
    assert.ok(rejsonEntry, 'MODULE LIST has ReJSON: ' + JSON.stringify(modules));
    assert.equal(typeof rejsonEntry.ver, 'number');
    assert.ok(rejsonEntry.ver >= 20600, 'ReJSON version >= 20600: ' + rejsonEntry.ver);

    step = 'empty database';
    assert.equal(await cmd.dbsize(), 0, 'the database must be empty before the run');

    // --- GET /api/products: SCAN product:*, nothing there, so JSON.SET the catalog. ---------
    step = 'SCAN product:* (empty)';
    assert.deepEqual(await eachScan('product:*'), []);

    step = 'JSON.SET products';
    for (const p of products) {
        assert.equal(await cmd.json_set(productKey(p), '.', JSON.stringify(p)), 'OK');
    }
    // A few unrelated keys, so that MATCH has something to filter out.
    assert.equal(await cmd.set('sess:abc', JSON.stringify({ cartId: 'abc' }), 'EX', '10800'), 'OK');
    assert.equal(await cmd.ttl('sess:abc'), 10800);

    step = 'SCAN product:* (ten products)';
    const expectedKeys = products.map(productKey).sort();
    assert.deepEqual(await eachScan('product:*'), expectedKeys);
    assert.deepEqual(await eachScan('product:*', 3), expectedKeys, 'SCAN with COUNT 3 (several rounds)');

    step = 'JSON.GET products';
    for (const p of products) {
        const key = productKey(p);
        const text = await cmd.json_get(key);
        assert.equal(text, JSON.stringify(p), 'JSON.GET ' + key + ' gives the compact document back');
        assert.deepEqual(JSON.parse(text), p);
        assert.equal(await cmd.type(key), 'ReJSON-RL');
        assert.equal(await cmd.json_type(key), 'object');
        assert.equal(await cmd.json_get(key, '.price'), JSON.stringify(p.price));
        assert.equal(await cmd.json_get(key, '.stock'), '2');
        assert.deepEqual(await cmd.json_objkeys(key), ['id', 'name', 'price', 'stock']);
    }
    assert.equal(await cmd.json_get('product:nope'), null, 'JSON.GET of a missing key is nil');

    // --- PUT /api/cart/:id: add to the cart, take from stock. --------------------------------
    const cartKey = (id) => 'cart:' + id;
    const carts = ['c0ffee', 'deadbeef'];
    const [watch, phone, iphone] = products;

    step = 'HSET cart';
    assert.equal(await cmd.hset(cartKey(carts[0]), productKey(watch), 1), 1, 'new field');
    assert.equal(await cmd.hset(cartKey(carts[0]), productKey(phone), 2), 1, 'new field');
    assert.equal(await cmd.hset(cartKey(carts[0]), productKey(phone), 2), 0, 'existing field');
    assert.equal(await cmd.hset(cartKey(carts[1]), productKey(iphone), 1), 1);
    assert.equal(await cmd.hget(cartKey(carts[0]), productKey(phone)), '2');

    step = 'JSON.SET stock update';
    let stored = JSON.parse(await cmd.json_get(productKey(watch)));
    stored.stock -= 1;
    assert.equal(await cmd.json_set(productKey(watch), '.', JSON.stringify(stored)), 'OK');
    assert.equal(await cmd.json_get(productKey(watch)), JSON.stringify({ ...watch, stock: 1 }));

    step = 'HINCRBY cart';
    assert.equal(await cmd.hincrby(cartKey(carts[0]), productKey(watch), 1), 2);
    assert.equal(await cmd.hincrby(cartKey(carts[0]), productKey(watch), -1), 1);
    assert.equal(await cmd.hincrby(cartKey(carts[0]), productKey(watch), 1), 2);
    assert.equal(await cmd.json_numincrby(productKey(watch), '.stock', -1), '0');
    assert.equal(await cmd.json_get(productKey(watch), '.stock'), '0');

    step = 'HGETALL cart';
    // redis@3 turns HGETALL's flat reply into an object.
    assert.deepEqual(await cmd.hgetall(cartKey(carts[0])), {
        [productKey(watch)]: '2',
        [productKey(phone)]: '2',
    });
    assert.deepEqual(await cmd.hgetall(cartKey(carts[1])), { [productKey(iphone)]: '1' });
    assert.equal(await cmd.hgetall(cartKey('none')), null, 'HGETALL of a missing cart');

    // GET /api/cart: HGETALL then JSON.GET of every product in it.
    const items = [];
    for (const [key, qty] of Object.entries(await cmd.hgetall(cartKey(carts[0])))) {
        items.push({ product: JSON.parse(await cmd.json_get(key)), quantity: qty });
    }
    assert.deepEqual(
        items.map((i) => [i.product.name, i.quantity]).sort(),
        [
            [watch.name, '2'],
            [phone.name, '2'],
        ].sort(),
    );

    step = 'HDEL cart';
    assert.equal(await cmd.hdel(cartKey(carts[0]), productKey(phone)), 1);
    assert.equal(await cmd.hdel(cartKey(carts[0]), productKey(phone)), 0, 'already gone');
    assert.equal(await cmd.hlen(cartKey(carts[0])), 1);
    assert.equal(await cmd.hdel(cartKey(carts[1]), productKey(iphone)), 1);
    assert.equal(await cmd.exists(cartKey(carts[1])), 0, 'an emptied cart hash disappears');
    assert.equal(await cmd.hgetall(cartKey(carts[1])), null);

    // A third cart, so that the reset has several keys to find.
    for (const p of products.slice(3, 8)) {
        assert.equal(await cmd.hset(cartKey('cafe'), productKey(p), 1), 1);
    }

    step = 'wrong type';
    await expectError(
        cmd.hincrby(productKey(iphone), 'stock', 1),
        'WRONGTYPE Operation against a key holding the wrong kind of value',
    );

    // --- POST /api/products/reset: SCAN cart:* and DEL each, then JSON.SET the catalog. -----
    step = 'reset: SCAN cart:*';
    const cartKeys = await eachScan('cart:*');
    assert.deepEqual(cartKeys, [cartKey(carts[0]), cartKey('cafe')].sort());
    step = 'reset: DEL carts';
    for (const key of cartKeys) {
        assert.equal(await cmd.del(key), 1);
    }
    assert.deepEqual(await eachScan('cart:*'), []);
    step = 'reset: JSON.SET products';
    for (const p of products) {
        assert.equal(await cmd.json_set(productKey(p), '.', JSON.stringify(p)), 'OK');
    }
    for (const p of products) {
        assert.equal(await cmd.json_get(productKey(p)), JSON.stringify(p));
    }

    // Leave the database as we found it.
    step = 'cleanup';
    for (const p of products) {
        assert.equal(await cmd.json_del(productKey(p), '.'), 1);
    }
    assert.equal(await cmd.del('sess:abc'), 1);
    assert.equal(await cmd.dbsize(), 0);

    step = 'QUIT';
    await new Promise((resolve, reject) => client.quit((err, res) => (err ? reject(err) : resolve(res))));
    clearTimeout(watchdog);
    console.log('shopping_cart.js: OK (' + products.length + ' products, ' + warnings.length + ' warning)');
}

main().catch(fail);
