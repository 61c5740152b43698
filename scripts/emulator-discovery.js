// Invoke lee's `bootstrap` once through @vercel/fun, a third-party emulator
// of AWS Lambda (its Runtime API, process pool, freeze/thaw), with an
// Alexa.Discovery directive carrying the Home Assistant token; write the
// answer to a file. Run by scripts/emulator-discovery.sh, which installs fun.
//
// Environment: FUN_DIR (where @vercel/fun is installed), TASK_DIR (a folder
// holding `bootstrap`), LEE_HA_URL, LEE_HA_TOKEN_FILE, ANSWER_FILE,
// FUNCTION_TIMEOUT (seconds, default 10). The token is read here and never
// printed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const timeout = Number(process.env.FUNCTION_TIMEOUT || 10);

async function main() {
  const funDir = need('FUN_DIR');
  const { createFunction } = require(path.join(funDir, 'node_modules', '@vercel', 'fun'));
  const funVersion = require(path.join(funDir, 'node_modules', '@vercel', 'fun', 'package.json')).version;
  const token = fs.readFileSync(need('LEE_HA_TOKEN_FILE'), 'utf8').trim();
  const event = {
    directive: {
      header: {
        namespace: 'Alexa.Discovery',
        name: 'Discover',
        payloadVersion: '3',
        messageId: randomUUID(),
      },
      payload: { scope: { type: 'BearerToken', token } },
    },
  };
  const fn = await createFunction({
    FunctionName: 'lee',
    Code: { Directory: need('TASK_DIR') },
    Handler: 'bootstrap',
    Runtime: 'provided',
    MemorySize: 128,
    Timeout: timeout,
    Environment: { Variables: { BASE_URL: need('LEE_HA_URL') } },
  });
  try {
    const started = process.hrtime.bigint();
    const result = await fn.invoke({
      InvocationType: 'RequestResponse',
      Payload: JSON.stringify(event),
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    fs.writeFileSync(need('ANSWER_FILE'), String(result.Payload));
    console.error(
      `@vercel/fun ${funVersion}: StatusCode ${result.StatusCode}` +
        (result.FunctionError ? `, FunctionError ${result.FunctionError}` : '') +
        `, ${ms.toFixed(0)} ms (cold start included)`,
    );
    if (result.FunctionError) process.exitCode = 1;
  } finally {
    await fn.destroy();
  }
}

main().catch((err) => {
  console.error(`emulator-discovery.js: ${err.message}`);
  process.exitCode = 1;
});
