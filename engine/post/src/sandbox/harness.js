// kiln sandbox harness for JavaScript (Node 20, permission model).
//
// Run as (cwd = workdir, a fresh empty directory):
//   node --experimental-permission --allow-fs-read=<workdir> --allow-fs-write=<workdir>
//        --max-old-space-size=256 --disable-warning=ExperimentalWarning -e "<this file>"
// stdin:  one JSON object {"nonce": "<32 hex>", "program": "<source>", "workdir": "<abs dir>",
//         "limits": {...}}   (limits are ignored here: Node cannot set rlimits on itself)
// stdout: whatever the program prints, then one line on fd 1
//           \nKILN-VERDICT-<nonce> {"verdict": V, "kind": K, "message": M, "line": L}\n
//         V: "pass" | "fail" | "error" | "forbidden" | "resource";  K: null | "memory" |
//         "recursion";  L: 1-based line in the program or null;  pure ASCII.  Exit status 0.
// Exit status 3 (message on stderr, no verdict line): the request was unusable.
// Without a verdict line: V8 heap exhaustion aborts the process (SIGABRT), a kill by the
// runner, etc.
//
// The program runs as the body of a CommonJS-style function (require, module, exports,
// __filename, __dirname) compiled with the file name "<generated>", so stack lines are
// program lines.  A program that uses top-level `await` is compiled as an async function
// instead (same line numbers).  After the synchronous part returns, the harness lets the
// event loop run to completion: the verdict is written on the first uncaught exception or
// unhandled rejection, on process.exit(), or when the loop has nothing left to do
// ('beforeExit').  A program that keeps the loop alive forever (setInterval) is ended by
// the runner's wall-clock timeout.
//
// The permission model (fs outside workdir, child_process, worker_threads, addons, WASI,
// inspector, process.binding) is the enforcement; on top of it the entry points are
// wrapped so that an attempt is recorded even when the program catches the error, and
// the network (not covered by the permission model in Node 20), process.kill & co. are
// replaced by functions that record the violation and throw.  console.assert throws an
// AssertionError on a falsy condition (instead of printing), so that it fails the test.

'use strict';
(function kilnHarness() {
  const fs = require('fs');
  const vm = require('vm');
  const Module = require('module');
  const util = require('util');
  const assert = require('assert');

  const writeSync = fs.writeSync;
  const readFileSync = fs.readFileSync;
  const reallyExit = process.reallyExit.bind(process);
  const jsonStringify = JSON.stringify;
  const ReflectApply = Reflect.apply;
  const StringFn = String;
  const ObjectKeys = Object.keys;
  const AssertionError = assert.AssertionError;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));

  function die(msg) {
    try { writeSync(2, 'kiln-harness: ' + msg + '\n'); } finally { reallyExit(3); }
  }

  // ---- request ------------------------------------------------------------------------
  let nonce, program, workdir;
  try {
    const request = JSON.parse(readFileSync(0, 'utf8'));
    nonce = request.nonce;
    program = request.program;
    workdir = request.workdir;
  } catch (e) {
    die('bad request: ' + e);
  }
  if (typeof nonce !== 'string' || !/^[0-9a-f]{32}$/.test(nonce)) {
    die('bad request: nonce must be 32 lowercase hex digits');
  }
  if (typeof program !== 'string' || typeof workdir !== 'string' || workdir[0] !== '/') {
    die('bad request: program/workdir have the wrong type');
  }
  const prefix = '\nKILN-VERDICT-' + nonce + ' ';

  // Blocking stdout/stderr pipes: otherwise a print loop that never yields queues its output
  // in the heap (the event loop never runs to drain it) instead of reaching the runner's
  // output cap, and the verdict could overtake output still queued.
  for (const stream of [process.stdout, process.stderr]) {
    try {
      const h = stream._handle;
      if (h && typeof h.setBlocking === 'function') h.setBlocking(true);
    } catch (_) { /* not a pipe */ }
  }
  const MAX_MESSAGE = 2000;

  // ---- verdict ----------------------------------------------------------------------------
  function asciiJson(s) {
    // JSON.stringify, then escape everything outside ASCII (ensure_ascii style; lone
    // surrogates come out of JSON.stringify already escaped).
    return jsonStringify(s).replace(/[\u007f-\uffff]/g,
      (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  }

  let finished = false;
  function finish(verdict, kind, message, line) {
    if (finished) return;
    finished = true;
    if (first !== null) {
      verdict = 'forbidden';
      kind = null;
      message = first.message;
      line = first.line;
    }
    message = StringFn(message);
    if (message.length > MAX_MESSAGE) message = message.slice(0, MAX_MESSAGE) + '...';
    const text = prefix + '{"verdict": ' + asciiJson(verdict)
      + ', "kind": ' + (kind == null ? 'null' : asciiJson(kind))
      + ', "message": ' + asciiJson(message)
      + ', "line": ' + (typeof line === 'number' ? StringFn(line) : 'null') + '}\n';
    let buf = Buffer.from(text, 'ascii');
    let tries = 0;
    while (buf.length > 0 && tries < 20000) {
      try {
        const n = writeSync(1, buf);
        buf = buf.subarray(n);
      } catch (e) {
        if (e && e.code === 'EAGAIN') {
          tries++;
          Atomics.wait(sleeper, 0, 0, 1);
          continue;
        }
        break;
      }
    }
    reallyExit(0);
  }

  // ---- line numbers -----------------------------------------------------------------------
  const frameRe = /<generated>:(\d+):\d+\)?$/;
  function generatedLine(stack) {
    // Innermost stack frame in the program.
    if (typeof stack !== 'string') return null;
    const lines = stack.split('\n');
    for (const l of lines) {
      if (/^\s+at /.test(l)) {
        const m = frameRe.exec(l);
        if (m) return Number(m[1]);
      }
    }
    return null;
  }
  function safeStack(e) {
    try {
      const s = e && e.stack;
      return typeof s === 'string' ? s : null;
    } catch (_) {
      return null;
    }
  }

  // ---- violations -------------------------------------------------------------------------
  let first = null;

  class SandboxViolation extends Error {}
  SandboxViolation.prototype.name = 'SandboxViolation';

  function record(message, stack) {
    if (first === null) first = { message, line: generatedLine(stack) };
  }
  function violate(message) {
    const err = new SandboxViolation(message + ' is not allowed in the sandbox');
    record(message, safeStack(err));
    throw err;
  }
  function stub(label) {
    return function forbidden() { violate(label); };
  }
  function disable(obj, label, names) {
    for (const n of names) {
      if (obj && typeof obj[n] === 'function') {
        try { obj[n] = stub(label + '.' + n); } catch (_) { /* read-only */ }
      }
    }
  }

  const permissionNames = {
    FileSystemRead: 'fs read',
    FileSystemWrite: 'fs write',
    ChildProcess: 'child_process',
    WorkerThreads: 'worker_threads',
    WASI: 'wasi',
    Inspector: 'inspector',
  };
  function deniedMessage(e, label) {
    const what = permissionNames[e.permission] || e.permission || label || 'access';
    if (e.resource) {
      const res = jsonStringify(StringFn(e.resource));
      return (label ? label + '(' + res + ')' : what + ' ' + res) + ' outside the sandbox';
    }
    if (e.message && /^process\.binding/.test(e.message)) return 'process.binding';
    return what;
  }
  function noteDenied(e, label) {
    if (e && e.code === 'ERR_ACCESS_DENIED') record(deniedMessage(e, label), safeStack(e));
  }
  // fs functions call each other (readFileSync -> openSync): name the outermost one.
  let fsDepth = 0;

  // fs: the permission model refuses; record the attempt even if the program catches it.
  function wrapRecording(obj, label) {
    for (const n of ObjectKeys(obj)) {
      const orig = obj[n];
      if (typeof orig !== 'function' || !/^[a-z]/.test(n)) continue;
      const name = label + '.' + n;
      const wrapped = function () {
        const args = Array.prototype.slice.call(arguments);
        const cb = args.length ? args[args.length - 1] : undefined;
        if (typeof cb === 'function') {
          args[args.length - 1] = function (err) {
            noteDenied(err, name);
            return ReflectApply(cb, this, arguments);
          };
        }
        let result;
        fsDepth++;
        try {
          result = ReflectApply(orig, this, args);
        } catch (e) {
          if (fsDepth === 1) noteDenied(e, name);
          throw e;
        } finally {
          fsDepth--;
        }
        if (result && typeof result.then === 'function' && label.endsWith('promises')) {
          return result.then(undefined, (e) => { noteDenied(e, name); throw e; });
        }
        return result;
      };
      Object.defineProperty(wrapped, 'name', { value: n });
      for (const k of Reflect.ownKeys(orig)) {
        if (k !== 'name' && k !== 'length' && k !== 'prototype') {
          try { wrapped[k] = orig[k]; } catch (_) { /* */ }
        }
      }
      try { obj[n] = wrapped; } catch (_) { /* read-only */ }
    }
  }
  // Closing stdout would lose the verdict (Node has no dup() to keep a copy).
  for (const n of ['close', 'closeSync']) {
    const orig = fs[n];
    fs[n] = function (fd) {
      if (fd === 0 || fd === 1 || fd === 2) violate('fs.' + n + '(' + fd + ')');
      return ReflectApply(orig, this, arguments);
    };
  }
  wrapRecording(fs, 'fs');
  wrapRecording(fs.promises, 'fs.promises');

  const childProcess = require('child_process');
  disable(childProcess, 'child_process',
    ['exec', 'execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync', 'fork']);
  if (childProcess.ChildProcess) {
    disable(childProcess.ChildProcess.prototype, 'child_process.ChildProcess', ['spawn']);
  }
  const workerThreads = require('worker_threads');
  try { workerThreads.Worker = stub('worker_threads.Worker'); } catch (_) { /* */ }

  // Network: not covered by the permission model in Node 20.
  const net = require('net');
  disable(net, 'net', ['connect', 'createConnection', 'createServer']);
  disable(net.Socket.prototype, 'net.Socket', ['connect']);
  disable(net.Server.prototype, 'net.Server', ['listen']);
  disable(require('tls'), 'tls', ['connect', 'createServer', 'createSecurePair']);
  for (const m of ['http', 'https']) {
    disable(require(m), m, ['request', 'get', 'createServer']);
  }
  disable(require('http2'), 'http2', ['connect', 'createServer', 'createSecureServer']);
  const dgram = require('dgram');
  disable(dgram, 'dgram', ['createSocket']);
  disable(dgram.Socket.prototype, 'dgram.Socket', ['bind', 'send', 'connect']);
  const dns = require('dns');
  for (const [obj, label] of [[dns, 'dns'], [dns.promises, 'dns.promises']]) {
    disable(obj, label, ObjectKeys(obj).filter((n) => /^(lookup|resolve|reverse)/.test(n)));
    try { obj.Resolver = stub(label + '.Resolver'); } catch (_) { /* */ }
  }
  for (const g of ['fetch', 'WebSocket', 'EventSource']) {
    if (typeof globalThis[g] === 'function') globalThis[g] = stub(g);
  }

  // Processes, signals, native code, the harness's own machinery.
  disable(process, 'process', ['kill', '_kill', 'abort', 'dlopen', 'chdir', 'binding',
    '_linkedBinding', 'setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups',
    'reallyExit', 'setUncaughtExceptionCaptureCallback', '_debugProcess', '_debugEnd',
    '_startProfilerIdleNotifier', '_stopProfilerIdleNotifier']);
  if (process.report) disable(process.report, 'process.report', ['writeReport']);
  disable(require('os'), 'os', ['setPriority']);
  disable(require('v8'), 'v8', ['setFlagsFromString', 'writeHeapSnapshot']);

  // console.assert fails the test instead of printing "Assertion failed".
  console.assert = function (value, ...rest) {
    if (!value) {
      const message = rest.length ? util.format(...rest) : 'console.assert failed';
      throw new AssertionError({ message, stackStartFn: console.assert });
    }
  };

  // ---- classification ---------------------------------------------------------------------
  function classify(e) {
    const stack = safeStack(e);
    const line = generatedLine(stack);
    let name = 'Error';
    let text = '';
    let code;
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        name = StringFn(e.name || (e.constructor && e.constructor.name) || 'Error');
        text = StringFn(e.message === undefined ? '' : e.message);
        code = e.code;
      } else {
        name = 'Uncaught';
        text = util.inspect(e);
      }
    } catch (_) { /* weird object */ }
    if (e instanceof SandboxViolation) return ['forbidden', null, text, line];
    if (code === 'ERR_ACCESS_DENIED') {
      noteDenied(e, null);
      return ['forbidden', null, deniedMessage(e, null), line];
    }
    if (name === 'AssertionError' || code === 'ERR_ASSERTION') {
      return ['fail', null, text || 'assertion failed', line];
    }
    if (name === 'RangeError' && /Maximum call stack size exceeded/.test(text)) {
      return ['resource', 'recursion', 'RangeError: ' + text, line];
    }
    if (name === 'RangeError' && /allocation failed|Array buffer allocation/i.test(text)) {
      return ['resource', 'memory', 'RangeError: ' + text, line];
    }
    return ['error', null, text ? name + ': ' + text : name, line];
  }

  function fail(e) {
    const [v, k, m, l] = classify(e);
    finish(v, k, m, l);
  }

  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('beforeExit', () => {
    const c = process.exitCode;
    if (c === undefined || c === null || Number(c) === 0) finish('pass', null, '', null);
    else finish('error', null, 'exit status ' + StringFn(c), null);
  });
  process.exit = function exit(code) {
    const c = code === undefined ? process.exitCode : code;
    const stack = safeStack(new Error());
    // As in the Python harness: an exit before the end skips the remaining tests.
    if (c === undefined || c === null || Number(c) === 0) {
      finish('error', null, 'exit status 0 before the end (the remaining tests did not run)', generatedLine(stack));
    } else {
      finish('error', null, 'exit status ' + StringFn(c), generatedLine(stack));
    }
  };

  // ---- run --------------------------------------------------------------------------------
  const filename = workdir + '/<generated>.js';
  const userRequire = Module.createRequire(filename);
  const userModule = { exports: {}, id: '.', filename, loaded: false, require: userRequire };
  const params = ['require', 'module', 'exports', '__filename', '__dirname'];
  const args = [userRequire, userModule, userModule.exports, filename, workdir];

  let fn;
  try {
    fn = vm.compileFunction(program, params, { filename: '<generated>' });
  } catch (e) {
    let retried = false;
    if (e instanceof SyntaxError && /await/.test(StringFn(e.message))) {
      try {
        // Same line numbers: the wrapper sits on the program's first line.
        fn = new vm.Script('(async function (' + params.join(', ') + ') {' + program + '\n})',
          { filename: '<generated>' }).runInThisContext();
        retried = true;
      } catch (_) { /* report the original error */ }
    }
    if (!retried) {
      const stack = safeStack(e) || '';
      const m = /^<generated>:(\d+)/.exec(stack);
      const [v, k, msg, l] = classify(e);
      finish(v === 'error' ? 'error' : v, k, msg, m ? Number(m[1]) : l);
      return;
    }
  }
  program = null;
  let result;
  try {
    result = ReflectApply(fn, userModule.exports, args);
  } catch (e) {
    fail(e);
    return;
  }
  if (result && typeof result.then === 'function') {
    result.then(undefined, fail);
  }
  // Otherwise: 'beforeExit' (or an uncaught error) writes the verdict.
})();
