#!/usr/bin/env node
// A real, independent LwM2M 1.0 client (Telefónica's lwm2m-node-lib) driven
// by tests/tests/interop_node_lib.rs.
//
// Usage: node node-lib-client.js HOST PORT ENDPOINT [TICK_MS]
//
// stdout carries one event per line, for the test to parse:
//   REGISTERED <location>      the server accepted the Register (2.01)
//   READ /x/y/z <value>        the server read a resource
//   WRITE /x/y/z <value>       the server wrote a resource
//   EXECUTE /x/y/z             the server executed a resource
//   SET /x/y/z <value>         the client changed a value (observers are notified)
//   DEREGISTERED               the client de-registered (after SIGTERM or QUIT)
//   ERROR <message>            something failed (the process then exits 1)
// Library logs go to stderr.
//
// stdin takes commands, one per line:
//   SET /x/y/z <value>         change a value (notifies observers)
//   QUIT                       de-register and exit
// With TICK_MS, /3303/0/5700 also changes by 0.5 every TICK_MS milliseconds.
// NODE_LIB_EXTRA_OBJECTS (JSON, e.g. {"/33605/5": {"1": "1234"}}) adds objects,
// such as vendor objects the server has no model for.
'use strict';

const logger = require('logops');
logger.setStream(process.stderr);
logger.setLevel(process.env.NODE_LIB_LOG_LEVEL || 'ERROR');

const lwm2m = require('lwm2m-node-lib');
const client = lwm2m.client;

const [host, portArg, endpoint, tickArg] = process.argv.slice(2);
if (!host || !portArg || !endpoint) {
    process.stderr.write('usage: node-lib-client.js HOST PORT ENDPOINT [TICK_MS]\n');
    process.exit(2);
}

function emit(line) {
    process.stdout.write(line + '\n');
}

function fail(message) {
    emit('ERROR ' + message);
    process.exit(1);
}

// The library's default client configuration (config.js of lwm2m-node-lib):
// LwM2M 1.0, UDP, text values as "lightweightm2m/text" (1541).
const config = {
    client: {
        lifetime: '60',
        version: '1.0',
        logLevel: process.env.NODE_LIB_LOG_LEVEL || 'ERROR',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text'
    }
};

const objects = {
    '/3/0': {
        '0': 'Telefonica I+D',     // Manufacturer
        '1': 'lwm2m-node-lib',     // Model Number
        '2': 'NL-0001',            // Serial Number
        '3': '1.4.0',              // Firmware Version
        '4': '',                   // Reboot (executable)
        '9': '87',                 // Battery Level
        '13': '1700000000',        // Current Time
        '14': '+02:00',            // UTC Offset
        '16': 'U'                  // Supported Binding and Modes
    },
    '/3303/0': {
        '5700': '21.5',            // Sensor Value (temperature)
        '5701': 'Cel'              // Sensor Units
    }
};

Object.assign(objects, JSON.parse(process.env.NODE_LIB_EXTRA_OBJECTS || '{}'));

function callbackToPromise(fn, ...args) {
    return new Promise((resolve, reject) => {
        fn(...args, (error, result) => (error ? reject(error) : resolve(result)));
    });
}

function splitPath(path) {
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.length !== 3) {
        throw new Error('not a resource path: ' + path);
    }
    return ['/' + parts[0] + '/' + parts[1], parts[2]];
}

async function setValue(path, value) {
    const [objectUri, resourceId] = splitPath(path);
    await callbackToPromise(client.registry.setResource, objectUri, resourceId, value);
    emit('SET ' + path + ' ' + value);
}

let deviceInfo = null;
let stopping = false;

async function deregisterAndExit() {
    if (stopping) {
        return;
    }
    stopping = true;
    if (deviceInfo) {
        try {
            await callbackToPromise(client.unregister, deviceInfo);
            emit('DEREGISTERED');
        } catch (error) {
            fail('unregister failed: ' + error);
        }
    }
    process.exit(0);
}

async function main() {
    client.init(config);
    for (const [objectUri, resources] of Object.entries(objects)) {
        await callbackToPromise(client.registry.create, objectUri);
        for (const [id, value] of Object.entries(resources)) {
            await callbackToPromise(client.registry.setResource, objectUri, id, value);
        }
    }

    deviceInfo = await callbackToPromise(client.register, host, Number(portArg), null, endpoint);

    client.setHandler(deviceInfo.serverInfo, 'read', (objectType, objectId, resourceId, value, callback) => {
        emit('READ /' + objectType + '/' + objectId + '/' + resourceId + ' ' + value);
        callback(null, value);
    });
    client.setHandler(deviceInfo.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
        emit('WRITE /' + objectType + '/' + objectId + '/' + resourceId + ' ' + value);
        callback(null);
    });
    client.setHandler(deviceInfo.serverInfo, 'execute', (objectType, objectId, resourceId, args, callback) => {
        emit('EXECUTE /' + objectType + '/' + objectId + '/' + resourceId + (args ? ' ' + args : ''));
        callback(null);
    });

    emit('REGISTERED /' + deviceInfo.location.replace(/^\/+/, ''));

    const tick = Number(tickArg || 0);
    if (tick > 0) {
        let temperature = Number(objects['/3303/0']['5700']);
        setInterval(() => {
            temperature += 0.5;
            setValue('/3303/0/5700', temperature.toFixed(1)).catch((e) => fail('tick: ' + e));
        }, tick);
    }
}

process.on('SIGTERM', deregisterAndExit);
process.on('SIGINT', deregisterAndExit);

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        const [command, path, ...rest] = line.split(/\s+/);
        if (command === 'SET' && path && rest.length > 0) {
            setValue(path, rest.join(' ')).catch((e) => fail('SET: ' + e));
        } else if (command === 'QUIT') {
            deregisterAndExit();
        } else if (line !== '') {
            emit('ERROR unknown command: ' + line);
        }
    }
});
// stdin closing (the test dropped its end) must not stop the client.
process.stdin.on('end', () => {});

main().catch((error) => fail('startup: ' + (error && error.stack ? error.stack : error)));
