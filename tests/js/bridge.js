// Drives the real @wlearn/core and @wlearn/mitra for the Python differential tests.
//
// Usage: node bridge.js INSTALL_DIR   (INSTALL_DIR holds node_modules with the packages)
// Protocol: one JSON request per line on stdin, one JSON response per line on stdout, in
// order. Request {"op": NAME, ...}; response {"ok": true, "result": ...} or
// {"ok": false, "error": {"name": ..., "message": ...}}. Bytes travel as base64. Values that
// JSON cannot carry travel as tagged strings (see fromWire), so every JS value the tests need
// (NaN, Infinity, -0, lone surrogates, __proto__ keys) arrives exactly.
'use strict'

const path = require('path')
const { createRequire } = require('module')

const installDir = process.argv[2]
const need = createRequire(path.join(installDir, 'package.json'))
const core = need('@wlearn/core')
const mitra = need('@wlearn/mitra')
const ort = need('onnxruntime-node')
// Not exported by @wlearn/mitra's package.json: reached by file to run its own inference code.
const shared = need(path.join(path.dirname(need.resolve('@wlearn/mitra')), 'shared.js'))

// A string starting with NUL is a tag: NUL NUL + rest is the string NUL + rest; NUL + a
// number's name (NaN, Infinity, -Infinity, -0) is that number.
const SPECIAL = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 }

function fromWire (text) {
  return JSON.parse(text, (key, value) => {
    if (typeof value !== 'string' || value[0] !== '\0') return value
    if (value[1] === '\0') return value.slice(1)
    const name = value.slice(1)
    if (!(name in SPECIAL)) throw new Error(`bad wire tag ${JSON.stringify(name)}`)
    return SPECIAL[name]
  })
}

const b64 = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
const unb64 = (text) => {
  const buf = Buffer.from(text, 'base64')
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}
const f64 = (text) => new Float64Array(unb64(text).buffer)

function matrix (spec) {
  return { data: f64(spec.data), rows: spec.rows, cols: spec.cols }
}

function target (spec) {
  // JS callers pass y as a typed array or a plain array; keep the form the test chose.
  if (spec.kind === 'f64') return f64(spec.data)
  if (spec.kind === 'i32') return new Int32Array(unb64(spec.data).buffer)
  if (spec.kind === 'f32') return new Float32Array(unb64(spec.data).buffer)
  return fromWire(spec.data) // a plain Array (may hold strings or booleans)
}

const sessions = new Map()
const onnxBytes = new Map()

function readOnnx (file) {
  if (!onnxBytes.has(file)) onnxBytes.set(file, new Uint8Array(require('fs').readFileSync(file)))
  return onnxBytes.get(file)
}

async function session (file) {
  if (!sessions.has(file)) sessions.set(file, await ort.InferenceSession.create(file))
  return sessions.get(file)
}

function version (name) {
  // package.json is not in the packages' exports: read it by path.
  return require(path.join(installDir, 'node_modules', name, 'package.json')).version
}

function estimator (task) {
  return task === 'regression' ? mitra.MitraRegressor : mitra.MitraClassifier
}

async function predictions (model, task, xq) {
  if (!xq) return {}
  const X = matrix(xq)
  const out = { pred: b64(await model.predict(X)) }
  if (task === 'classification') out.proba = b64(await model.predictProba(X))
  return out
}

const ops = {
  ping: () => ({
    node: process.version,
    core: version('@wlearn/core'),
    types: version('@wlearn/types'),
    mitra: version('@wlearn/mitra'),
    ort: version('onnxruntime-node')
  }),

  encode: (req) => {
    const artifacts = fromWire(req.artifacts).map((a, i) => {
      const out = { ...a }
      if (req.data[i] !== null) out.data = unb64(req.data[i])
      return out
    })
    return { bundle: b64(core.encodeBundle(fromWire(req.manifest), artifacts)) }
  },

  // Many encodes in one call (the long differential pass): a bundle or an error per case.
  encodeMany: (req) => ({
    bundles: req.cases.map((c) => {
      try {
        return ops.encode(c).bundle
      } catch (err) {
        return { error: String(err && err.message) }
      }
    })
  }),

  decode: (req) => {
    const fn = req.validate ? core.validateBundle : core.decodeBundle
    const { manifest, toc, blobs } = fn(unb64(req.bundle))
    return { manifest: JSON.stringify(manifest), toc: JSON.stringify(toc), region: blobs.length }
  },

  encodeJSON: (req) => ({ bytes: b64(core.encodeJSON(fromWire(req.value))) }),

  stringify: (req) => ({ texts: Array.from(f64(req.numbers), (x) => JSON.stringify(x)) }),

  // Fit with the JS estimator, save, and optionally predict.
  mitraFit: async (req) => {
    const cls = estimator(req.task)
    const model = await cls.create(readOnnx(req.onnx), fromWire(req.params))
    model.fit(matrix(req.X), target(req.y))
    const out = { bundle: b64(model.save()), ...(await predictions(model, req.task, req.Xq)) }
    model.dispose()
    return out
  },

  // Load a bundle with the JS estimator; report what JS holds, re-save, optionally predict.
  mitraLoad: async (req) => {
    const cls = estimator(req.task)
    const model = await cls.load(unb64(req.bundle), readOnnx(req.onnx))
    const out = {
      params: JSON.stringify(model.getParams()),
      nFeatures: model.nrFeature,
      classes: req.task === 'classification' ? Array.from(model.classes) : null,
      bundle: b64(model.save()),
      ...(await predictions(model, req.task, req.Xq))
    }
    model.dispose()
    return out
  },

  // @wlearn/core's registry with @wlearn/mitra's loaders, as a JS user loads any bundle.
  registryLoad: async (req) => {
    mitra.registerLoaders(readOnnx(req.classifier), readOnnx(req.regressor))
    const model = await core.load(unb64(req.bundle))
    const out = { isFitted: model.isFitted, nFeatures: model.nrFeature }
    model.dispose()
    return out
  },

  // @wlearn/mitra's own inference call (shared.runInference) on given support and query rows.
  runInference: async (req) => {
    const classifier = req.task === 'classification'
    const xs = new Float32Array(unb64(req.xSupport).buffer)
    const ys = classifier ? new Int32Array(unb64(req.ySupport).buffer) : new Float32Array(unb64(req.ySupport).buffer)
    const xq = new Float32Array(unb64(req.xQuery).buffer)
    const output = await shared.runInference(ort, await session(req.onnx), xs, ys, xq,
      req.nFeatures, req.nSupport, req.nQuery, classifier)
    return { dims: output.dims, data: b64(output.data) }
  }
}

async function handle (line) {
  let req
  try {
    req = JSON.parse(line)
    const fn = ops[req.op]
    if (!fn) throw new Error(`unknown op ${req.op}`)
    return { ok: true, result: await fn(req) }
  } catch (err) {
    const error = err instanceof Error
      ? { name: err.name, message: err.message }
      : { name: typeof err, message: String(err) }
    return { ok: false, error }
  }
}

function main () {
  // Lines are split by hand: readline rescans its whole buffer for every chunk, which is
  // quadratic on the tens-of-megabytes lines some tests send.
  let pending = []
  let chain = Promise.resolve()
  const run = (line) => {
    chain = chain.then(async () => {
      process.stdout.write(JSON.stringify(await handle(line)) + '\n')
    })
  }
  process.stdin.on('data', (chunk) => {
    let start = 0
    let end
    while ((end = chunk.indexOf(10, start)) !== -1) {
      pending.push(chunk.subarray(start, end))
      const line = Buffer.concat(pending).toString('utf8')
      pending = []
      if (line) run(line)
      start = end + 1
    }
    if (start < chunk.length) pending.push(chunk.subarray(start))
  })
  return new Promise((resolve) => process.stdin.on('end', () => resolve(chain)))
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack) + '\n')
  process.exit(1)
})
