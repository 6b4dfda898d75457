// The client half of hecc (hecc.wasm) in a worker, so the page stays
// responsive while it makes keys. Messages: {id, fn, args} in; {id, result},
// {id, error} or {id, progress: [done, total]} out.
importScripts('wasm_exec.js');

const ready = (async () => {
  const go = new Go();
  const start = performance.now();
  const wasm = await WebAssembly.instantiateStreaming(fetch('hecc.wasm'), go.importObject);
  // main sets globalThis.hecc, then waits for calls for as long as the
  // worker lives.
  go.run(wasm.instance);
  return performance.now() - start;
})();

ready.then(
  (ms) => postMessage({ ready: ms }),
  (err) => postMessage({ failed: `cannot load hecc.wasm: ${err.message || err}` }),
);

onmessage = async (e) => {
  const { id, fn, args } = e.data;
  try {
    await ready;
    if (fn === 'keygen') {
      args.push((done, total) => postMessage({ id, progress: [done, total] }));
    }
    const result = globalThis.hecc[fn](...args);
    if (result && result.error !== undefined) {
      postMessage({ id, error: result.error });
      return;
    }
    postMessage({ id, result }, transferables(result));
  } catch (err) {
    postMessage({ id, error: String(err.message || err) });
  }
};

// transferables are the buffers of the typed arrays in a result: moved to
// the page, not copied.
function transferables(v) {
  if (ArrayBuffer.isView(v)) return [v.buffer];
  if (v && typeof v === 'object') return Object.values(v).filter(ArrayBuffer.isView).map((a) => a.buffer);
  return [];
}
