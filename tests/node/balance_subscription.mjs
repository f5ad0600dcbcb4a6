// Subscribe to creditBalanceChanged (USD) with the graphql-ws reference client over `ws`,
// print each event's payload as one JSON line on stdout, and exit 0 after <count> events.
// Any error, an early completion or a timeout exits non-zero with the reason on stderr.
//
//   node tests/node/balance_subscription.mjs <ws-url> <customer-id> <count> [timeout-ms]
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, customerId, countArg, timeoutArg] = process.argv.slice(2);
const count = Number.parseInt(countArg ?? '', 10);
const timeoutMs = Number.parseInt(timeoutArg ?? '20000', 10);
if (!url || !customerId || !(count > 0) || !(timeoutMs > 0)) {
  process.stderr.write(
    'usage: node balance_subscription.mjs <ws-url> <customer-id> <count> [timeout-ms]\n',
  );
  process.exit(2);
}

const QUERY = `subscription Balance($customerId: ID!) {
  creditBalanceChanged(customerId: $customerId, currency: "USD") {
    currency
    available
    sequence
  }
}`;

function describe(error) {
  if (error instanceof Error) return error.stack ?? String(error);
  // An ErrorEvent from `ws` (connection refused, bad handshake, ...).
  if (error && typeof error === 'object' && error.error instanceof Error) {
    return error.error.stack ?? String(error.error);
  }
  // A CloseEvent from the socket, or a list of GraphQL errors from the server.
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    return `socket closed: code ${error.code}, reason ${JSON.stringify(error.reason)}`;
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

let finished = false;
let client;

// Write everything, then exit: process.exit() right after a write to a pipe can lose it.
function finish(code, message) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (message) process.stderr.write(`${message}\n`);
  const done = () => process.stdout.write('', () => process.exit(code));
  if (client) {
    client.dispose().then(done, done);
  } else {
    done();
  }
}

const timer = setTimeout(
  () => finish(1, `timeout: ${received} of ${count} events after ${timeoutMs} ms`),
  timeoutMs,
);

let received = 0;
client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: true,
  retryAttempts: 0,
  shouldRetry: () => false,
  on: {
    error: (error) => finish(1, `connection error: ${describe(error)}`),
    closed: (event) => {
      if (received < count) finish(1, `connection closed early: ${describe(event)}`);
    },
  },
});

client.subscribe(
  { query: QUERY, variables: { customerId } },
  {
    next: (payload) => {
      if (finished) return;
      if (payload.errors) {
        finish(1, `GraphQL errors: ${describe(payload.errors)}`);
        return;
      }
      received += 1;
      process.stdout.write(`${JSON.stringify(payload)}\n`);
      if (received >= count) finish(0);
    },
    error: (error) => finish(1, `subscription error: ${describe(error)}`),
    complete: () => {
      if (received < count) finish(1, `subscription completed after ${received} of ${count}`);
    },
  },
);
