#!/usr/bin/env node
// -*- test-case-name: tests.worker.test_languages -*-
//
// The echo app as a Node.js worker: speaks the Cocaine worker protocol
// (PROTOCOL.md section 6) over the UNIX socket given as --endpoint.
//
// Events:
//   echo   every request chunk is written back, then the response closes
//   ping   answers "pong" and closes
//   http   the HTTP convention (docs/http.md): the request chunk
//          [method, uri, version, headers, body] is answered with a head
//          [200, [["Content-Type", the request's], ["X-Uri", uri]]] and
//          the body echoed byte for byte
// Anything else is answered [[42, 200], "no handler for event '<name>'"].
//
// Control channel: handshake [1, 0, [uuid]] then heartbeat [1, 0, []] every
// COCAINE_HEARTBEAT_INTERVAL seconds (10); with no answer within
// COCAINE_DISOWN_TIMEOUT seconds (30) it logs "disowned" and exits 1. A
// terminate [1, 1, [code, reason]] is echoed and the worker exits 0. When
// the runtime closes the connection the worker exits 1.
"use strict";

const net = require("net");
const { encode, decode, decodeMultiStream } = require("@msgpack/msgpack");

const CONTROL = 1;
const FRAMEWORK = 42;
const NO_HANDLER = 200;
const UNCAUGHT = 100;

function log(message) {
  process.stderr.write(`${new Date().toISOString()} worker-js ${process.pid}: ${message}\n`);
}

function parseArguments(argv) {
  const found = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    if (eq >= 0) {
      found[arg.slice(2, eq)] = arg.slice(eq + 1);
    } else if (i + 1 < argv.length) {
      found[arg.slice(2)] = argv[++i];
    }
  }
  return found;
}

function seconds(name, fallback) {
  const value = parseFloat(process.env[name] || "");
  return value > 0 ? value : fallback;
}

const decoder = new TextDecoder("utf-8");
function text(value) {
  if (value instanceof Uint8Array) return decoder.decode(value);
  return String(value);
}

const args = parseArguments(process.argv.slice(2));
if (!args.endpoint || !args.uuid) {
  process.stderr.write("usage: worker.js --app NAME --endpoint PATH --locator HOST:PORT --protocol 1 --uuid UUID\n");
  process.exit(2);
}
const heartbeatInterval = seconds("COCAINE_HEARTBEAT_INTERVAL", 10) * 1000;
const disownTimeout = seconds("COCAINE_DISOWN_TIMEOUT", 30) * 1000;

const socket = net.createConnection(args.endpoint);
let heartbeatTimer = null;
let disownTimer = null;
let exiting = false;
let maxChannel = CONTROL;
// channel -> session; only echo sessions outlive their invoke.
const sessions = new Map();

function send(channel, type, payload) {
  if (!socket.destroyed) socket.write(encode([channel, type, payload]));
}

function exit(status) {
  if (exiting) return;
  exiting = true;
  clearTimeout(heartbeatTimer);
  clearTimeout(disownTimer);
  socket.end(() => process.exit(status));
  setTimeout(() => process.exit(status), 1000).unref();
}

function heartbeat() {
  send(CONTROL, 0, []);
  if (disownTimer === null) {
    disownTimer = setTimeout(() => {
      log(`disowned: no heartbeat answer in ${disownTimeout / 1000} s; exiting`);
      exit(1);
    }, disownTimeout);
  }
  heartbeatTimer = setTimeout(heartbeat, heartbeatInterval);
}

const handlers = {
  echo(channel) {
    sessions.set(channel, {
      chunk(data) {
        send(channel, 0, [typeof data === "string" ? Buffer.from(data) : data]);
      },
      close() { send(channel, 2, []); sessions.delete(channel); },
      error(reason) {
        send(channel, 1, [[FRAMEWORK, UNCAUGHT], `RequestError: ${reason}`]);
        sessions.delete(channel);
      },
    });
  },
  http(channel) {
    let request = null;
    sessions.set(channel, {
      chunk(data) {
        if (request === null) request = data;
      },
      close() {
        sessions.delete(channel);
        let method, uri, headers, body;
        try {
          // old-spec raw strings: keep them as bytes (the body is binary)
          [method, uri, , headers, body] = decode(request, { rawStrings: true });
        } catch (err) {
          send(channel, 1, [[FRAMEWORK, UNCAUGHT], `bad HTTP request: ${err.message}`]);
          return;
        }
        let type = "application/octet-stream";
        for (const [name, value] of headers || []) {
          if (text(name).toLowerCase() === "content-type") {
            type = text(value);
            break;
          }
        }
        send(channel, 0, [encode([200, [["Content-Type", type], ["X-Method", text(method)],
                                        ["X-Uri", text(uri)]]])]);
        if (body && body.length) send(channel, 0, [body]);
        send(channel, 2, []);
      },
      error(reason) {
        sessions.delete(channel);
        log(`http request failed: ${reason}`);
      },
    });
  },
  ping(channel) {
    send(channel, 0, [Buffer.from("pong")]);
    send(channel, 2, []);
  },
};

function dispatch(message) {
  if (!Array.isArray(message) || message.length < 3 || !Array.isArray(message[2])) {
    log(`ignoring a malformed message`);
    return;
  }
  const [channel, type, payload] = message;
  if (channel === CONTROL) {
    if (type === 0) {
      clearTimeout(disownTimer);
      disownTimer = null;
    } else if (type === 1) {
      log(`terminate requested: ${JSON.stringify(payload.map(text))}`);
      send(CONTROL, 1, payload.map((v) => (v instanceof Uint8Array ? text(v) : v)));
      exit(0);
    }
    return;
  }
  const session = sessions.get(channel);
  if (session) {
    if (type === 0) session.chunk(payload[0]);
    else if (type === 2) session.close();
    else if (type === 1) session.error(`${JSON.stringify(payload[0])} ${text(payload[1] || "")}`);
    return;
  }
  if (channel > maxChannel) {
    if (type !== 0) {
      log(`ignoring type ${type} on new channel ${channel}`);
      return;
    }
    maxChannel = channel;
    const event = text(payload[0]);
    const handler = Object.prototype.hasOwnProperty.call(handlers, event) ? handlers[event] : null;
    if (!handler) {
      log(`no handler for event '${event}'`);
      send(channel, 1, [[FRAMEWORK, NO_HANDLER], `no handler for event '${event}'`]);
      return;
    }
    try {
      handler(channel);
    } catch (err) {
      send(channel, 1, [[FRAMEWORK, UNCAUGHT], `${err.name}: ${err.message}`]);
      sessions.delete(channel);
    }
  }
}

socket.on("connect", () => {
  send(CONTROL, 0, [args.uuid]);
  heartbeat();
  log(`connected to ${args.endpoint}, handshake sent`);
});

socket.on("error", (err) => {
  if (exiting) return;
  log(`connection error: ${err.message}; exiting`);
  exit(1);
});

socket.on("close", () => {
  if (exiting) return;
  log("connection to the runtime lost; exiting");
  exiting = true;
  process.exit(1);
});

(async () => {
  try {
    for await (const message of decodeMultiStream(socket)) {
      dispatch(message);
    }
  } catch (err) {
    if (!exiting) {
      log(`broken stream from the runtime: ${err.message}; exiting`);
      exit(1);
    }
  }
})();
