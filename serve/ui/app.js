// The browser client of hecc serve: draw a digit, make keys, encrypt,
// query, decrypt, all with hecc.wasm in a worker. The server sees the
// evaluation keys, the public key (for a model that floods its results)
// and ciphertexts only; the secret key stays in this browser's IndexedDB.

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true });

// The page's state, last pixels and the model input hecc.wasm made of them,
// answer and image put on the canvas, for inspection (the browser test
// reads them).
const page = { state: 'loading', pixels: null, input: null, answer: null, stages: [], image: null };
window.heccPage = page;

function setState(state, message, error = false) {
  page.state = state;
  document.body.dataset.state = state;
  $('status').textContent = message;
  $('status').classList.toggle('error', error);
  $('classify').disabled = state === 'loading' || state === 'busy' || !model;
}

// ---- hecc.wasm in a worker ----

const worker = new Worker('worker.js');
const pending = new Map();
let nextCall = 1;
let wasmReady = false;

worker.onmessage = (e) => {
  const m = e.data;
  if (m.ready !== undefined) {
    wasmReady = true;
    page.wasmSeconds = m.ready / 1000;
    ready();
    return;
  }
  if (m.failed) {
    setState('error', m.failed, true);
    return;
  }
  const call = pending.get(m.id);
  if (!call) return;
  if (m.progress) {
    call.progress?.(...m.progress);
    return;
  }
  pending.delete(m.id);
  if (m.error !== undefined) call.reject(new Error(m.error));
  else call.resolve(m.result);
};

function wasm(fn, args, progress) {
  return new Promise((resolve, reject) => {
    const id = nextCall++;
    pending.set(id, { resolve, reject, progress });
    worker.postMessage({ id, fn, args });
  });
}

// ---- the server's API ----

class APIError extends Error {
  constructor(status, code, message) {
    super(`server answered ${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers, cache: 'no-store' };
  if (body) {
    init.body = body;
    init.headers['Content-Type'] = 'application/octet-stream';
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let e = { code: '', error: resp.statusText };
    try { e = await resp.json(); } catch { /* not the API's JSON */ }
    throw new APIError(resp.status, e.code, e.error);
  }
  return resp;
}

const bytes = async (resp) => new Uint8Array(await resp.arrayBuffer());

// ---- keys, one record per model and compile ----
// IndexedDB is per origin, that is per server.

const db = new Promise((resolve, reject) => {
  const req = indexedDB.open('hecc', 1);
  req.onupgradeneeded = () => req.result.createObjectStore('keys');
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

async function store(mode, f) {
  const tx = (await db).transaction('keys', mode);
  const req = f(tx.objectStore('keys'));
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

const keyName = (m) => `${m.name}/${m.fingerprint}`;
const sessions = new Map(); // keyName → {spec, secretKey, publicKey, evalKeys, keyId, made}, uploaded this visit

// ---- stages ----

function stage(name, start) {
  const seconds = (performance.now() - start) / 1000;
  page.stages.push({ name, seconds });
  const row = document.createElement('tr');
  row.append(cell(name), cell(seconds.toFixed(3)));
  $('stages').tBodies[0].append(row);
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

const mib = (n) => (n / (1 << 20)).toFixed(1);
const kib = (n) => (n / 1024).toFixed(1);

// session is the model's keys, made if this browser has none for its
// compile, and uploaded if the server lacks them.
async function session(m) {
  const name = keyName(m);
  if (sessions.has(name)) return sessions.get(name);
  let rec = await store('readonly', (s) => s.get(name));
  let start = performance.now();
  if (!rec) {
    setState('busy', 'fetching the spec…');
    const spec = await bytes(await api('GET', `/v1/models/${encodeURIComponent(m.name)}/spec`));
    await checkSpec(m, spec);
    stage('spec', start);
    setState('busy', 'making keys…');
    start = performance.now();
    const k = await wasm('keygen', [spec], (done, total) =>
      setState('busy', `making keys: ${done} of ${total} evaluation keys`));
    stage('keygen', start);
    rec = { spec, secretKey: k.secretKey, publicKey: k.publicKey, evalKeys: k.evalKeys, keyId: k.keyId, made: Date.now() };
    await store('readwrite', (s) => s.put(rec, name));
  } else {
    await checkSpec(m, rec.spec);
  }
  await upload(m, rec, false);
  sessions.set(name, rec);
  showKeys(m);
  return rec;
}

async function checkSpec(m, spec) {
  const info = await wasm('spec', [spec]);
  if (info.fingerprint !== m.fingerprint) {
    throw new Error(`the spec of ${m.name} is compile ${info.fingerprint.slice(0, 12)}, the server lists ${m.fingerprint.slice(0, 12)}`);
  }
}

// upload sends the evaluation keys unless the server holds them (or
// always, with force: the server may have evicted them since), and the
// public key too if model m floods its results and the server lacks it.
async function upload(m, rec, force) {
  let held = null;
  if (!force) {
    try {
      held = await (await api('GET', `/v1/keys/${rec.keyId}`)).json();
    } catch (e) {
      if (e.code !== 'unknown_key') throw e;
    }
  }
  if (!held) {
    setState('busy', `uploading the evaluation keys (${mib(rec.evalKeys.length)} MiB)…`);
    const start = performance.now();
    const ans = await (await api('PUT', '/v1/keys', rec.evalKeys)).json();
    if (ans.id !== rec.keyId) throw new Error(`the server stored the keys as ${ans.id}, their SHA-256 is ${rec.keyId}`);
    stage(`upload eval.keys (${mib(rec.evalKeys.length)} MiB)`, start);
  }
  if (m.circuit_privacy_bits && !held?.public_key) {
    // The server encrypts the flood it adds to each result under it.
    setState('busy', `uploading the public key (${mib(rec.publicKey.length)} MiB)…`);
    const start = performance.now();
    await api('PUT', `/v1/keys/${rec.keyId}/public`, rec.publicKey);
    stage(`upload public.key (${mib(rec.publicKey.length)} MiB)`, start);
  }
}

// ---- the input ----

// layout reads channels, height and width from the model input's shape:
// [..., C, H, W] with C 1 or 3, [H, W], or a flat vector of a square's
// size (an MLP's flattened image).
function layout(shape) {
  const n = shape.length;
  const ones = (s) => s.every((d) => d === 1);
  if (n >= 3 && (shape[n - 3] === 1 || shape[n - 3] === 3) && ones(shape.slice(0, n - 3))) {
    return { c: shape[n - 3], h: shape[n - 2], w: shape[n - 1] };
  }
  const size = shape[n - 1];
  const side = Math.round(Math.sqrt(size));
  if (ones(shape.slice(0, n - 1)) && side * side === size) return { c: 1, h: side, w: side };
  if (n === 2) return { c: 1, h: shape[0], w: shape[1] };
  return null;
}

// toPixels turns the canvas into the model's input layout as MNIST's
// digits were made: the drawing's bounding box scaled (area-averaged,
// aspect kept) to fit a 20×20 box of 28×28, then placed with its centre of
// mass at the centre. Values are luminance in 0..255, which hecc.wasm
// scales as the compile recorded; null for an empty canvas.
function toPixels(lay) {
  const W = canvas.width, H = canvas.height;
  const px = ctx.getImageData(0, 0, W, H).data;
  const gray = new Float32Array(W * H);
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const v = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      gray[i] = v;
      if (v > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const box = Math.round((20 * Math.min(lay.h, lay.w)) / 28);
  const scale = box / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale)), th = Math.max(1, Math.round(bh * scale));
  const small = resample(gray, W, x0, y0, bw, bh, tw, th);
  let sum = 0, sx = 0, sy = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      sum += v; sx += (x + 0.5) * v; sy += (y + 0.5) * v;
    }
  }
  const ox = Math.round(lay.w / 2 - sx / sum), oy = Math.round(lay.h / 2 - sy / sum);
  const plane = lay.h * lay.w;
  const pixels = new Float32Array(lay.c * plane);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const tx = x + ox, ty = y + oy;
      if (tx < 0 || ty < 0 || tx >= lay.w || ty >= lay.h) continue;
      for (let c = 0; c < lay.c; c++) pixels[c * plane + ty * lay.w + tx] = small[y * tw + x];
    }
  }
  return pixels;
}

// resample area-averages the bw×bh box at (x0, y0) of src (row length W)
// into tw×th.
function resample(src, W, x0, y0, bw, bh, tw, th) {
  const wx = weights(bw, tw), wy = weights(bh, th);
  const rows = new Float32Array(bh * tw);
  for (let y = 0; y < bh; y++) {
    for (let t = 0; t < tw; t++) {
      let v = 0;
      for (const [i, w] of wx[t]) v += w * src[(y0 + y) * W + x0 + i];
      rows[y * tw + t] = v;
    }
  }
  const out = new Float32Array(th * tw);
  for (let t = 0; t < th; t++) {
    for (let x = 0; x < tw; x++) {
      let v = 0;
      for (const [i, w] of wy[t]) v += w * rows[i * tw + x];
      out[t * tw + x] = v;
    }
  }
  return out;
}

// weights says, for each of m target pixels, which of n source pixels it
// covers and by how much (summing to 1).
function weights(n, m) {
  const out = [];
  for (let t = 0; t < m; t++) {
    const a = (t * n) / m, b = ((t + 1) * n) / m;
    const ws = [];
    for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
      const w = Math.min(b, i + 1) - Math.max(a, i);
      if (w > 0) ws.push([i, (w * m) / n]);
    }
    out.push(ws);
  }
  return out;
}

function showPreview(pixels, lay) {
  const p = $('preview');
  p.width = lay.w;
  p.height = lay.h;
  const img = new ImageData(lay.w, lay.h);
  for (let i = 0; i < lay.w * lay.h; i++) {
    const v = Math.round(Math.min(255, Math.max(0, pixels[i])));
    img.data.set([v, v, v, 255], 4 * i);
  }
  p.getContext('2d').putImageData(img, 0, 0);
}

// ---- classify ----

let models = [];
let model = null;

async function classify() {
  const lay = layout(model.input.shape);
  const pixels = toPixels(lay);
  if (!pixels) {
    setState('ready', 'Draw a digit first.');
    return;
  }
  page.pixels = Array.from(pixels);
  page.input = null;
  page.answer = null;
  page.stages = [];
  $('stages').tBodies[0].replaceChildren();
  $('answer').hidden = true;
  showPreview(pixels, lay);
  try {
    const rec = await session(model);
    setState('busy', 'encrypting…');
    let start = performance.now();
    const { ct, input } = await wasm('encrypt', [rec.spec, rec.secretKey, pixels]);
    page.input = Array.from(input);
    stage('encrypt', start);
    setState('busy', `the server evaluates the encrypted input (the compile predicts ${model.predicted_seconds.toPrecision(2)} s of evaluation)…`);
    start = performance.now();
    let res;
    try {
      res = await infer(rec, ct);
    } catch (e) {
      const missing = e.code === 'unknown_key';
      if (!missing && e.code !== 'public_key_required') throw e;
      // Evicted since the check (the public key goes with the evaluation
      // keys), or held without the public key: upload what is missing,
      // once.
      await upload(model, rec, missing);
      start = performance.now();
      res = await infer(rec, ct);
    }
    stage(`server (${kib(ct.length)} KiB up, ${kib(res.length)} KiB down)`, start);
    setState('busy', 'decrypting…');
    start = performance.now();
    const ans = await wasm('decrypt', [rec.spec, rec.secretKey, res]);
    stage('decrypt', start);
    page.answer = { scores: Array.from(ans.scores), output: Array.from(ans.output), top: ans.top };
    showAnswer(ans);
    setState('done', `Done: ${page.stages.reduce((s, x) => s + x.seconds, 0).toFixed(2)} s in all.`);
  } catch (e) {
    setState('error', e.message, true);
  }
}

async function infer(rec, ct) {
  const resp = await api('POST', `/v1/models/${encodeURIComponent(model.name)}/infer`, ct, { 'Hecc-Key-Id': rec.keyId });
  return bytes(resp);
}

function showAnswer(ans) {
  const top = ans.top.slice(0, 3);
  const post = model.output.post;
  $('digit').textContent = top[0];
  const list = $('top');
  list.replaceChildren();
  const max = Math.max(...top.map((k) => Math.abs(ans.output[k])), 1e-9);
  for (const k of top) {
    const li = document.createElement('li');
    li.textContent = `class ${k}: ${ans.output[k].toPrecision(4)}${post ? ` (${post})` : ''}`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(0, (80 * ans.output[k]) / max)}px`;
    li.append(bar);
    list.append(li);
  }
  $('answer').hidden = false;
}

async function showKeys(m) {
  const rec = await store('readonly', (s) => s.get(keyName(m)));
  if (!rec) {
    $('keyinfo').textContent = 'No keys yet for this model: the first classification makes them here.';
    $('forget').hidden = true;
    return;
  }
  $('keyinfo').textContent = `Keys made in this browser on ${new Date(rec.made).toLocaleString()}: `
    + `evaluation keys ${rec.keyId.slice(0, 12)}… (${mib(rec.evalKeys.length)} MiB)`
    + (m.circuit_privacy_bits ? `, public key (${mib(rec.publicKey.length)} MiB).` : '.');
  $('forget').hidden = false;
}

async function forget() {
  const name = keyName(model);
  await store('readwrite', (s) => s.delete(name));
  sessions.delete(name);
  showKeys(model);
}

// ---- drawing ----

function clear() {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

let last = null;
function point(e) {
  const r = canvas.getBoundingClientRect();
  return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
}
canvas.addEventListener('pointerdown', (e) => {
  canvas.setPointerCapture(e.pointerId);
  last = point(e);
  stroke(last, last);
});
canvas.addEventListener('pointermove', (e) => {
  if (!last) return;
  const p = point(e);
  stroke(last, p);
  last = p;
});
const up = () => { last = null; };
canvas.addEventListener('pointerup', up);
canvas.addEventListener('pointercancel', up);

const brush = 22;

function stroke(a, b) {
  ctx.beginPath();
  if (a[0] === b[0] && a[1] === b[1]) {
    // A canvas does not stroke a segment of no length: a dot.
    ctx.fillStyle = '#fff';
    ctx.arc(a[0], a[1], brush / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = brush;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.moveTo(...a);
  ctx.lineTo(...b);
  ctx.stroke();
}

// drawImage puts a dropped or chosen image on the canvas, fitted, as light
// ink on black: an image with a light border is inverted.
async function drawImage(file) {
  if (!file || !file.type.startsWith('image/')) return;
  page.image = null;
  const img = await createImageBitmap(file);
  clear();
  const s = Math.min(canvas.width / img.width, canvas.height / img.height);
  const w = img.width * s, h = img.height * s;
  ctx.drawImage(img, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  const d = ctx.getImageData((canvas.width - w) / 2, (canvas.height - h) / 2, Math.max(1, w), Math.max(1, h));
  let border = 0, n = 0;
  for (let y = 0; y < d.height; y++) {
    for (let x = 0; x < d.width; x++) {
      if (y > 1 && y < d.height - 2 && x > 1 && x < d.width - 2) continue;
      const i = 4 * (y * d.width + x);
      border += (d.data[i] + d.data[i + 1] + d.data[i + 2]) / 765;
      n++;
    }
  }
  if (border / n > 0.5) {
    const all = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < all.data.length; i += 4) {
      for (let c = 0; c < 3; c++) all.data[i + c] = 255 - all.data[i + c];
    }
    ctx.putImageData(all, 0, 0);
    // Outside the image stays black.
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, (canvas.height - h) / 2);
    ctx.fillRect(0, (canvas.height + h) / 2, canvas.width, canvas.height);
    ctx.fillRect(0, 0, (canvas.width - w) / 2, canvas.height);
    ctx.fillRect((canvas.width + w) / 2, 0, canvas.width, canvas.height);
  }
  page.image = file.name;
}

canvas.addEventListener('dragover', (e) => { e.preventDefault(); canvas.classList.add('drop'); });
canvas.addEventListener('dragleave', () => canvas.classList.remove('drop'));
canvas.addEventListener('drop', (e) => {
  e.preventDefault();
  canvas.classList.remove('drop');
  drawImage(e.dataTransfer.files[0]);
});
$('file').addEventListener('change', (e) => drawImage(e.target.files[0]));
$('clear').addEventListener('click', clear);
$('classify').addEventListener('click', classify);
$('forget').addEventListener('click', forget);
$('model').addEventListener('change', (e) => {
  model = models.find((m) => m.name === e.target.value);
  $('answer').hidden = true;
  showKeys(model);
});

// ---- start ----

function ready() {
  if (!wasmReady || !model) return;
  setState('ready', `hecc.wasm loaded in ${page.wasmSeconds.toFixed(2)} s. Draw a digit, then classify it.`);
}

clear();
setState('loading', 'loading hecc.wasm and the models…');
api('GET', '/v1/models').then(async (resp) => {
  models = (await resp.json()).models.filter((m) => layout(m.input.shape));
  if (models.length === 0) {
    setState('error', 'The server serves no model whose input is an image.', true);
    return;
  }
  const sel = $('model');
  for (const m of models) {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = `${m.name} (compile ${m.fingerprint.slice(0, 12)})`;
    sel.append(o);
  }
  sel.disabled = models.length < 2;
  model = models[0];
  showKeys(model);
  ready();
}, (e) => setState('error', `cannot list the models: ${e.message}`, true));
