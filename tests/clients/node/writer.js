#!/usr/bin/env node
// The client drill's Node.js writer: ioredis through the Sentinels of a
// hardened.redis group, with the settings docs/clients.md recommends.
// Writes SET key + WAIT 1 in a loop until SIGTERM/SIGINT; a write counts as
// acknowledged only when WAIT reports at least one replica. Every failed
// command is counted by its error. On exit it writes JSON to $DRILL_OUT:
//   {attempts, acked: [[key, epoch_ms], ...], failed, errors: {message: n},
//    longest_gap_ms, reconnects, ends}
// Environment (passwords never on the command line):
//   DRILL_SENTINELS "ip:port ip:port ..."   DRILL_MASTER_NAME   DRILL_PREFIX   DRILL_OUT   DRILL_INTERVAL_MS
//   REDIS_APP_PASSWORD (data user "app")   REDIS_SENTINEL_CLIENT_PASSWORD (Sentinel user "client")
"use strict";

const fs = require("fs");
const Redis = require("ioredis");

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`writer.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const sentinels = env("DRILL_SENTINELS").split(/\s+/).filter(Boolean).map((a) => {
  const i = a.lastIndexOf(":");
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});

const redis = new Redis({
  sentinels,                                   // all of them: one is a single point of failure
  name: env("DRILL_MASTER_NAME"),              // the Sentinel master name (redis_master_name)
  role: "master",
  sentinelUsername: "client",                  // Sentinel ACL user
  sentinelPassword: env("REDIS_SENTINEL_CLIENT_PASSWORD"),
  username: "app",                             // data ACL user
  password: env("REDIS_APP_PASSWORD"),
  connectTimeout: 500,                         // a dead host does not refuse: do not wait long on it
  commandTimeout: 1000,                        // above WAIT's 500 ms
  sentinelCommandTimeout: 500,
  enableOfflineQueue: false,                   // fail fast while disconnected; the application retries
  maxRetriesPerRequest: 1,
  retryStrategy: () => 100,                    // reconnect (ask the Sentinels again) every 100 ms
  sentinelRetryStrategy: () => 100,
  // The old master answers READONLY once it has been demoted: reconnect
  // (ask the Sentinels again) and resend the command.
  reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
  failoverDetector: true,                      // +switch-master from the Sentinels triggers a reconnect
  enableReadyCheck: false,                     // the ready check runs INFO, which "app" may not run (@dangerous)
});

const prefix = env("DRILL_PREFIX");
const pause = Number(process.env.DRILL_INTERVAL_MS || 0);   // between writes (0: as fast as it goes)
const out = env("DRILL_OUT");
const acked = [];
const errors = {};
let attempts = 0;
let failed = 0;
let reconnects = 0;
let stopping = false;
let longest = 0;
let last = null;

let ends = 0;
let lastError = "";
redis.on("error", (err) => { lastError = String(err.message || err); });   // commands count their own failures
redis.on("reconnecting", () => { reconnects += 1; });
// ioredis stops reconnecting for good ("end": every command then fails with
// "Connection is closed") when connecting through the Sentinels fails in a
// way its retry strategies do not cover. Seen in the drill after a kill:
// connect again.
redis.on("end", () => {
  if (stopping) return;
  ends += 1;
  console.log(`end after error: ${lastError}`);
  setTimeout(() => { redis.connect().catch(() => {}); }, 100);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  for (let i = 0; !stopping; i += 1) {
    const key = `${prefix}:${i}`;
    attempts += 1;
    try {
      await redis.set(key, String(i));
      const replicas = await redis.call("WAIT", 1, 500);
      if (Number(replicas) >= 1) {
        const now = Date.now();
        if (last !== null) longest = Math.max(longest, now - last);
        last = now;
        acked.push([key, now]);
        if (acked.length % 50 === 0) console.log(`acked ${acked.length}`);
      }
      if (pause) await sleep(pause);
    } catch (err) {
      failed += 1;
      const kind = String(err.message || err).split(/[:.\n]/)[0].slice(0, 80);
      errors[kind] = (errors[kind] || 0) + 1;
      await sleep(20);
    }
  }
  fs.writeFileSync(out, JSON.stringify({ attempts, acked, failed, errors, longest_gap_ms: longest, reconnects, ends }));
  redis.disconnect();
  process.exit(0);
}

process.on("SIGTERM", () => { stopping = true; });
process.on("SIGINT", () => { stopping = true; });
main();
