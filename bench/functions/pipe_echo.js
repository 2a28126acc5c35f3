'use strict';
// The raw-pipe baseline of the warm-invoke benchmark in Node.js: reads one JSON event per line on
// stdin, calls the echo function's handler and writes its result as one JSON line on stdout.
//
//     node bench/functions/pipe_echo.js

const path = require('path');

const { handler } = require(path.join(__dirname, 'echo', 'functions', 'echo.js'));

let pending = '';
let chain = Promise.resolve();
process.stdin.on('data', (chunk) => {
  pending += chunk.toString('utf8');
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    chain = chain.then(async () => {
      const result = await handler(JSON.parse(line), null);
      process.stdout.write(JSON.stringify(result) + '\n');
    });
  }
});
