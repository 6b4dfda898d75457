//go:build js && wasm

// Command hecc-wasm is the client half of hecc built to WebAssembly, for
// the page `hecc serve --ui` serves: keys, encryption and decryption run
// in the browser, with the runtime functions hecc's CLI calls, so the
// secret key and the plaintext never leave it. Build it with `make ui`.
//
// It sets a global object hecc whose functions take and return bytes as
// Uint8Array:
//
//	hecc.spec(spec)                        {model, fingerprint, input, output}
//	hecc.keygen(spec, progress?)           {secretKey, publicKey, evalKeys, keyId}
//	hecc.encrypt(spec, secretKey, pixels)  {ct, input}: the input .ct and the model input it holds
//	hecc.decrypt(spec, secretKey, result)  {scores, output, top}
//
// A call that fails returns {error: "..."}. progress(done, total) hears of
// each evaluation key made; keyId is the hex SHA-256 of evalKeys, the id
// the server gives them; publicKey is the key set's public.key, which the
// server needs for a circuit that floods its results. pixels is a
// Float32Array of values in 0..255 laid out as the model input; encrypt
// applies the input scaling the compile recorded (or divides by 255 where
// it recorded none), as hecc query does with a PNG, and returns that model
// input as a Float64Array. decrypt rounds as hecc decrypt does
// (runtime.Decrypt).
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"syscall/js"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

func main() {
	js.Global().Set("hecc", js.ValueOf(map[string]any{
		"spec":    export(specInfo),
		"keygen":  export(keygen),
		"encrypt": export(encrypt),
		"decrypt": export(decrypt),
	}))
	// The functions run on JavaScript's calls for as long as the page
	// lives.
	select {}
}

// export makes f a JavaScript function that returns f's result, or
// {error} when f fails or panics: a panic would end the Go program, and
// every later call with it.
func export(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) (res any) {
		defer func() {
			if r := recover(); r != nil {
				res = errorValue(fmt.Errorf("internal error: %v", r))
			}
		}()
		v, err := f(args)
		if err != nil {
			return errorValue(err)
		}
		return v
	})
}

func errorValue(err error) js.Value {
	return js.ValueOf(map[string]any{"error": err.Error()})
}

// arg is argument i, which must be of JavaScript type typ.
func arg(args []js.Value, i int, name string, typ js.Type) (js.Value, error) {
	if i >= len(args) || args[i].Type() != typ {
		return js.Value{}, fmt.Errorf("argument %d (%s) is missing or not of type %s", i+1, name, typ)
	}
	return args[i], nil
}

// byteArg is argument i, a Uint8Array, copied into Go.
func byteArg(args []js.Value, i int, name string) ([]byte, error) {
	v, err := arg(args, i, name, js.TypeObject)
	if err != nil {
		return nil, err
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("argument %d (%s) is not a Uint8Array", i+1, name)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func toBytes(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// float64s is a Float64Array holding v.
func float64s(v []float64) js.Value {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return js.Global().Get("Float64Array").New(toBytes(b).Get("buffer"))
}

func ints(v []int) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// specArg decodes and validates the .spec in argument 0.
func specArg(args []js.Value) (*plan.Spec, error) {
	b, err := byteArg(args, 0, "spec")
	if err != nil {
		return nil, err
	}
	spec, err := runtime.DecodeSpec(b)
	if err != nil {
		return nil, fmt.Errorf("the spec: %w", err)
	}
	return spec, nil
}

func tensorInfo(t plan.TensorInfo) map[string]any {
	return map[string]any{"name": t.Name, "shape": ints(t.Shape), "post": t.Post}
}

func specInfo(args []js.Value) (any, error) {
	spec, err := specArg(args)
	if err != nil {
		return nil, err
	}
	fp := spec.Fingerprint()
	return map[string]any{
		"model":       spec.Model,
		"fingerprint": hex.EncodeToString(fp[:]),
		"input":       tensorInfo(spec.Input),
		"output":      tensorInfo(spec.Output),
	}, nil
}

func keygen(args []js.Value) (any, error) {
	spec, err := specArg(args)
	if err != nil {
		return nil, err
	}
	var progress func(done, total int)
	if len(args) > 1 && args[1].Type() == js.TypeFunction {
		progress = func(done, total int) { args[1].Invoke(done, total) }
	}
	sk, pk, err := runtime.GenerateKeyPair(spec)
	if err != nil {
		return nil, err
	}
	secret, err := runtime.EncodeSecretKey(spec, sk)
	if err != nil {
		return nil, err
	}
	public, err := runtime.EncodePublicKey(spec, pk)
	if err != nil {
		return nil, err
	}
	sizes, err := runtime.PredictSizes(spec)
	if err != nil {
		return nil, err
	}
	var eval bytes.Buffer
	eval.Grow(sizes.EvalKeys)
	if err := runtime.WriteEvalKeys(&eval, spec, sk, progress); err != nil {
		return nil, fmt.Errorf("cannot make the evaluation keys: %w", err)
	}
	id := sha256.Sum256(eval.Bytes())
	return map[string]any{
		"secretKey": toBytes(secret),
		"publicKey": toBytes(public),
		"evalKeys":  toBytes(eval.Bytes()),
		"keyId":     hex.EncodeToString(id[:]),
	}, nil
}

func encrypt(args []js.Value) (any, error) {
	spec, err := specArg(args)
	if err != nil {
		return nil, err
	}
	secret, err := byteArg(args, 1, "secret key")
	if err != nil {
		return nil, err
	}
	sk, err := runtime.DecodeSecretKey(spec, secret)
	if err != nil {
		return nil, fmt.Errorf("the secret key: %w", err)
	}
	in, err := arg(args, 2, "pixels", js.TypeObject)
	if err != nil {
		return nil, err
	}
	if !in.InstanceOf(js.Global().Get("Float32Array")) {
		return nil, fmt.Errorf("argument 3 (pixels) is not a Float32Array")
	}
	n := in.Get("length").Int()
	if want := ir.NumElements(spec.Input.Shape); n != want {
		return nil, fmt.Errorf("%w: %d pixel values, model input %q of shape %v takes %d", runtime.ErrShape, n, spec.Input.Name, spec.Input.Shape, want)
	}
	raw := make([]byte, 4*n)
	js.CopyBytesToGo(raw, js.Global().Get("Uint8Array").New(in.Get("buffer"), in.Get("byteOffset"), 4*n))
	t := &ir.Tensor{Shape: append([]int(nil), spec.Input.Shape...), Data: make([]float64, n)}
	for i := range n {
		t.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	t.Data = spec.ScalePixels(t.Data)
	ct, err := runtime.EncryptFile(spec, sk, t)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ct": toBytes(ct), "input": float64s(t.Data)}, nil
}

func decrypt(args []js.Value) (any, error) {
	spec, err := specArg(args)
	if err != nil {
		return nil, err
	}
	secret, err := byteArg(args, 1, "secret key")
	if err != nil {
		return nil, err
	}
	sk, err := runtime.DecodeSecretKey(spec, secret)
	if err != nil {
		return nil, fmt.Errorf("the secret key: %w", err)
	}
	res, err := byteArg(args, 2, "result")
	if err != nil {
		return nil, err
	}
	ct, err := runtime.DecodeCiphertext(spec, runtime.KindOutputCt, sk.KeySet(), res)
	if err != nil {
		return nil, fmt.Errorf("the server's result: %w", err)
	}
	raw, err := runtime.Decrypt(spec, sk, ct)
	if err != nil {
		return nil, err
	}
	out, err := ir.ApplyPost(spec.Output.Post, raw)
	if err != nil {
		return nil, err
	}
	return map[string]any{"scores": float64s(raw.Data), "output": float64s(out.Data), "top": ints(topClasses(raw))}, nil
}

// topClasses orders the classes of a classifier's output (its last axis)
// by score, highest first, as hecc query does.
func topClasses(t *ir.Tensor) []int {
	n := len(t.Data)
	if len(t.Shape) > 0 {
		n = t.Shape[len(t.Shape)-1]
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return t.Data[idx[a]] > t.Data[idx[b]] })
	return idx
}
