// Drives autocannon for bench/api_load.py: one endpoint at one concurrency, printed as JSON.
// Usage: node bench/load.js CONFIG.json  (NODE_PATH points at autocannon's node_modules).
// Config: {url, method, headers, body, paths: [..] (rotated per request), connections, duration}.
"use strict";

const fs = require("node:fs");
const autocannon = require("autocannon");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const paths = config.paths;
let next = 0;

autocannon(
  {
    url: config.url,
    connections: config.connections,
    duration: config.duration,
    timeout: 10,
    requests: [
      {
        method: config.method,
        path: paths[0],
        headers: config.headers,
        body: config.body,
        // Each request takes the next path, so each "complete" names a task not completed yet.
        setupRequest: (request) => {
          request.path = paths[next % paths.length];
          next += 1;
          return request;
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    console.log(
      JSON.stringify({
        total: result.requests.total,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        duration: result.duration,
        statusCodes: result.statusCodeStats,
      }),
    );
  },
);
