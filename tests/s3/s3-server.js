#!/usr/bin/env node
// A local S3 server for drkit's end-to-end tests, on @20minutes/s3rver 4.0.4 (which checks
// AWS Signature V4; plain s3rver 3.x accepts any secret). Started by tests/lib/s3.sh.
//
//   NODE_PATH=DIR/node_modules node --openssl-legacy-provider s3-server.js DATADIR [PORT] [BUCKET...]
//
// DATADIR  where objects land as plain files (<bucket>/<key>._S3rver_object + metadata)
// PORT     0 (default): any free port. "PORT <n>" is printed on stdout once it listens.
// BUCKET   buckets created at start (existing ones are kept)
//
// Environment:
//   S3_ACCESS_KEY, S3_SECRET_KEY  one more key pair (the built-in S3RVER/S3RVER stays)
//   S3_PARENT_PID                 exit when this process is gone (a test killed with SIGKILL
//                                 runs no cleanup: the server must not outlive it)
//   S3_VERBOSE                    log every request on stderr
//
// Binds 127.0.0.1 only. Serves until SIGTERM/SIGINT. Pitfalls (../shared/notes/test-infra.md §2):
//   - node needs --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens
//     with DES, which OpenSSL 3 has only in its legacy provider; without it every truncated
//     listing is an HTTP 500. Checked below, so that a missing flag fails at start.
//   - path-style only (vhostBuckets off): with virtual-host addressing s3rver 4.0.4 checks the
//     signature against the rewritten /bucket/key path and answers SignatureDoesNotMatch, and
//     with vhostBuckets on, any Host header that is not an IP or "localhost" is a bucket name.
//   - the package's "bin" file is missing from its tarball: use the library.
//   - anonymous requests (no Authorization header) are accepted: test wrong credentials, not
//     missing ones.
'use strict';
const crypto = require('crypto');

const [dir, port = '0', ...buckets] = process.argv.slice(2);
if (!dir || !/^\d+$/.test(port)) {
  console.error('usage: s3-server.js DATADIR [PORT] [BUCKET...]');
  process.exit(2);
}

try {
  crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch (e) {
  console.error(
    's3-server.js: DES is unavailable (' +
      e.code +
      '): run node with --openssl-legacy-provider, or listings with continuation fail',
  );
  process.exit(2);
}

let S3rver, AWSAccount;
try {
  S3rver = require('@20minutes/s3rver');
  AWSAccount = require('@20minutes/s3rver/lib/models/account');
} catch (e) {
  console.error('s3-server.js: cannot load @20minutes/s3rver (NODE_PATH?): ' + e.message);
  process.exit(3);
}

if (process.env.S3_ACCESS_KEY && process.env.S3_SECRET_KEY) {
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(process.env.S3_ACCESS_KEY, process.env.S3_SECRET_KEY);
}

const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory: dir,
  silent: !process.env.S3_VERBOSE,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

server.run().then(
  ({ port: p }) => {
    process.stdout.write(`PORT ${p}\n`);
  },
  (err) => {
    console.error('s3-server.js: cannot start: ' + err.message);
    process.exit(1);
  },
);

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  // close() waits for keep-alive connections; don't let a client hold the server up
  setTimeout(() => process.exit(0), 1000).unref();
  server.close(() => process.exit(0));
  if (server.httpServer && server.httpServer.closeAllConnections) {
    server.httpServer.closeAllConnections();
  }
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, stop);
}

const parent = Number(process.env.S3_PARENT_PID || 0);
if (parent > 0) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (e) {
      if (e.code === 'ESRCH') stop();
    }
  }, 1000).unref();
}
