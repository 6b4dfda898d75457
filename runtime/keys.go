package runtime

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	goruntime "runtime"
	"sync"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// Keys is the client's key material for one spec.
type Keys struct {
	Secret *SecretKey
	Public *PublicKey
	Eval   *EvalKeys
}

// EvalKeys are the keys the server evaluates with: a relinearization key
// when the circuit multiplies ciphertexts, and one Galois key per rotation.
type EvalKeys struct {
	relin  *rlwe.RelinearizationKey
	galois []*rlwe.GaloisKey
	// seed derives the uniform half of every key (see evalKeyMaker): the
	// key file carries it instead of that half.
	seed [seedSize]byte
	id   KeySetID // inputs must carry it, results are given it
	// public is the client's public key, which a circuit that floods its
	// results needs (WithPublicKey); nil otherwise.
	public *rlwe.PublicKey
}

// KeySet is the id of the key set e belongs to.
func (e *EvalKeys) KeySet() KeySetID { return e.id }

// keySet is the view Lattigo's evaluator needs.
func (e *EvalKeys) keySet() *rlwe.MemEvaluationKeySet {
	return rlwe.NewMemEvaluationKeySet(e.relin, e.galois...)
}

// memoryBytes is what e takes parsed, with the automorphism table an
// evaluator builds for each Galois key (N entries).
func (e *EvalKeys) memoryBytes(p hefloat.Parameters) int64 {
	n := int64(len(e.galois)) * int64(p.N()) * 8
	if e.relin != nil {
		n += int64(e.relin.BinarySize())
	}
	for _, k := range e.galois {
		n += int64(k.BinarySize())
	}
	return n
}

// GenerateKeys makes a fresh key set for spec, calling progress (if not
// nil) after each Galois key so a CLI can show how far it got.
func GenerateKeys(spec *plan.Spec, progress func(done, total int)) (*Keys, error) {
	sk, pk, err := GenerateKeyPair(spec)
	if err != nil {
		return nil, err
	}
	m, err := newEvalKeyMaker(spec, sk.sk)
	if err != nil {
		return nil, err
	}
	ek := &EvalKeys{seed: m.seed, id: sk.id}
	if spec.Relin {
		ek.relin = m.relin()
	}
	for i := range spec.Rotations {
		ek.galois = append(ek.galois, m.galois(i))
		if progress != nil {
			progress(i+1, len(spec.Rotations))
		}
	}
	return &Keys{Secret: sk, Public: pk, Eval: ek}, nil
}

// seedSize is the size of the seed of the keys' uniform halves.
const seedSize = 32

// evalKeyMaker generates evaluation keys whose uniform halves a come from a
// fresh seed, one keyed stream per key, as SEAL's and Lattigo's multiparty
// public "a" are: a file of keys then holds the seed and the halves b, and
// the server regenerates a. Only a is seeded: the secret and the errors
// come from the key generator's own cryptographic randomness.
type evalKeyMaker struct {
	spec *plan.Spec
	kgen *rlwe.KeyGenerator
	sk   *rlwe.SecretKey
	seed [seedSize]byte
}

func newEvalKeyMaker(spec *plan.Spec, sk *rlwe.SecretKey) (*evalKeyMaker, error) {
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	m := &evalKeyMaker{spec: spec, kgen: hefloat.NewKeyGenerator(p), sk: sk}
	if _, err := rand.Read(m.seed[:]); err != nil {
		return nil, fmt.Errorf("cannot draw the key seed: %w", err)
	}
	return m, nil
}

// keyed is the key generator whose uniform samples come from key index's
// stream: 0 for the relinearization key, i+1 for Galois key i.
func (m *evalKeyMaker) keyed(index int) *rlwe.KeyGenerator {
	return &rlwe.KeyGenerator{Encryptor: m.kgen.Encryptor.WithPRNG(uniformStream(m.seed, index))}
}

func (m *evalKeyMaker) relin() *rlwe.RelinearizationKey {
	return m.keyed(0).GenRelinearizationKeyNew(m.sk, atLevel(m.spec.Params, m.spec.RelinLevel))
}

func (m *evalKeyMaker) galois(i int) *rlwe.GaloisKey {
	r := m.spec.Rotations[i]
	return m.keyed(i+1).GenGaloisKeyNew(r.Galois, m.sk, atLevel(m.spec.Params, r.Level))
}

// uniformStream is key index's stream of uniform randomness: AES-256 in
// counter mode under the seed, the counter starting at index·2^64 so that
// streams never overlap. AES rather than Lattigo's BLAKE2b stream because
// the server regenerates half of every key when it loads them, and AES
// runs in hardware.
func uniformStream(seed [seedSize]byte, index int) sampling.PRNG {
	block, err := aes.NewCipher(seed[:])
	if err != nil { // only for a key of another length than AES's
		panic(err)
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], uint64(index))
	return keystream{cipher.NewCTR(block, iv[:])}
}

// keystream reads a stream cipher's key stream.
type keystream struct{ cipher.Stream }

func (k keystream) Read(p []byte) (int, error) {
	clear(p)
	k.XORKeyStream(p, p)
	return len(p), nil
}

// atLevel makes an evaluation key valid for ciphertexts up to level of
// the set's chain.
func atLevel(set params.Set, level int) rlwe.EvaluationKeyParameters {
	ring := set.RingLevel(level)
	return rlwe.EvaluationKeyParameters{LevelQ: &ring}
}

// EncodeSecretKey serialises the secret key. It never goes to the server.
func EncodeSecretKey(spec *plan.Spec, sk *SecretKey) ([]byte, error) {
	b, err := sk.sk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return seal(KindSecretKey, fileHeader(spec, sk.id), b), nil
}

// EncodePublicKey serialises the public key with its key set id.
func EncodePublicKey(spec *plan.Spec, pk *PublicKey) ([]byte, error) {
	b, err := pk.pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return seal(KindPublicKey, fileHeader(spec, pk.id), b), nil
}

// DecodeSecretKey parses a secret key made for spec, refusing one whose
// key set id is not its own (a damaged file).
func DecodeSecretKey(spec *plan.Spec, data []byte) (*SecretKey, error) {
	p, id, payload, err := openFor(spec, data, KindSecretKey)
	if err != nil {
		return nil, err
	}
	sk := rlwe.NewSecretKey(p)
	if err := unmarshalSized("secret key", payload, sk); err != nil {
		return nil, err
	}
	key := newSecretKey(sk)
	if key.id != id {
		return nil, fmt.Errorf("%w: the secret key does not match its key set id: the file is damaged", ErrFormat)
	}
	return key, nil
}

// DecodePublicKey parses a public key made for spec, with the key set id
// its file carries.
func DecodePublicKey(spec *plan.Spec, data []byte) (*PublicKey, error) {
	p, id, payload, err := openFor(spec, data, KindPublicKey)
	if err != nil {
		return nil, err
	}
	pk := rlwe.NewPublicKey(p)
	if err := unmarshalSized("public key", payload, pk); err != nil {
		return nil, err
	}
	return &PublicKey{pk: pk, id: id}, nil
}

// GenerateKeyPair makes a secret key and its public key for spec.
func GenerateKeyPair(spec *plan.Spec) (*SecretKey, *PublicKey, error) {
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, nil, err
	}
	sk, pk := hefloat.NewKeyGenerator(p).GenKeyPairNew()
	key := newSecretKey(sk)
	return key, &PublicKey{pk: pk, id: key.id}, nil
}

// The evaluation key file: the header, a relinearization flag, the seed of
// the keys' uniform halves, then the halves b (packed, see packed.go) of
// the relinearization key if any, the count of Galois keys and each Galois
// key's halves b, in the spec's order. Levels and Galois elements come from
// the spec, so the file holds nothing else.

// EncodeEvalKeys serialises the evaluation keys.
func EncodeEvalKeys(spec *plan.Spec, ek *EvalKeys) ([]byte, error) {
	var buf bytes.Buffer
	err := writeEvalKeys(&buf, spec, ek.id, ek.seed,
		func() *rlwe.RelinearizationKey { return ek.relin },
		func(i int) *rlwe.GaloisKey { return ek.galois[i] })
	return buf.Bytes(), err
}

// WriteEvalKeys generates spec's evaluation keys from sk and writes each
// one as soon as it exists: a deep circuit's keys reach gigabytes, and only
// one is ever in memory.
func WriteEvalKeys(w io.Writer, spec *plan.Spec, sk *SecretKey, progress func(done, total int)) error {
	m, err := newEvalKeyMaker(spec, sk.sk)
	if err != nil {
		return err
	}
	return writeEvalKeys(w, spec, sk.id, m.seed, m.relin,
		func(i int) *rlwe.GaloisKey {
			gk := m.galois(i)
			if progress != nil {
				progress(i+1, len(spec.Rotations))
			}
			return gk
		})
}

func writeEvalKeys(out io.Writer, spec *plan.Spec, id KeySetID, seed [seedSize]byte, relin func() *rlwe.RelinearizationKey, galois func(i int) *rlwe.GaloisKey) error {
	p, err := newParameters(spec.Params)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	head := seal(KindEvalKeys, fileHeader(spec, id), nil)
	head = append(head, map[bool]byte{true: 1, false: 0}[spec.Relin])
	head = append(head, seed[:]...)
	if _, err := w.Write(head); err != nil {
		return err
	}
	var buf []byte
	if spec.Relin {
		if buf, err = writeHalves(w, p, &relin().GadgetCiphertext, buf); err != nil {
			return fmt.Errorf("relinearization key: %w", err)
		}
	}
	if _, err := w.Write(binary.AppendUvarint(nil, uint64(len(spec.Rotations)))); err != nil {
		return err
	}
	for i := range spec.Rotations {
		if buf, err = writeHalves(w, p, &galois(i).GadgetCiphertext, buf); err != nil {
			return fmt.Errorf("Galois key %d: %w", i+1, err)
		}
	}
	return w.Flush()
}

// writeHalves writes the halves b of g's entries.
func writeHalves(w io.Writer, p hefloat.Parameters, g *rlwe.GadgetCiphertext, buf []byte) (_ []byte, err error) {
	qs, ps := p.Q()[:g.LevelQ()+1], p.P()[:g.LevelP()+1]
	for i := range g.Value {
		for j := range g.Value[i] {
			b := g.Value[i][j][0]
			if buf, err = writePackedPoly(w, b.Q, qs, buf); err != nil {
				return buf, err
			}
			if buf, err = writePackedPoly(w, b.P, ps, buf); err != nil {
				return buf, err
			}
		}
	}
	return buf, nil
}

// fillHalves fills the halves b of g, preallocated with the shape the
// spec implies, from data, and regenerates the halves a from the seed.
func fillHalves(data []byte, p hefloat.Parameters, seed [seedSize]byte, index int, g *rlwe.GadgetCiphertext) error {
	r := bytes.NewReader(data)
	qs, ps := p.Q()[:g.LevelQ()+1], p.P()[:g.LevelP()+1]
	var buf []byte
	var err error
	for i := range g.Value {
		for j := range g.Value[i] {
			b := g.Value[i][j][0]
			if buf, err = readPackedPoly(r, b.Q, qs, buf); err != nil {
				return err
			}
			if buf, err = readPackedPoly(r, b.P, ps, buf); err != nil {
				return err
			}
		}
	}
	lattigox.ExpandUniform(p, uniformStream(seed, index), g)
	return nil
}

// packedGadgetSize is the size of g's halves b, packed.
func packedGadgetSize(p hefloat.Parameters, g *rlwe.GadgetCiphertext) int {
	entries := 0
	for i := range g.Value {
		entries += len(g.Value[i])
	}
	return entries * (packedPolySize(p.N(), p.Q()[:g.LevelQ()+1]) + packedPolySize(p.N(), p.P()[:g.LevelP()+1]))
}

// DecodeEvalKeys parses evaluation keys made for spec.
func DecodeEvalKeys(spec *plan.Spec, data []byte) (*EvalKeys, error) {
	return ReadEvalKeys(bytes.NewReader(data), spec)
}

// ReadEvalKeys reads evaluation keys made for spec: exactly the keys the
// spec asks for, at their levels, every residue below its modulus. The
// file is read in one goroutine while the others unpack the keys already
// read and regenerate their seeded halves, which costs more than reading.
func ReadEvalKeys(r io.Reader, spec *plan.Spec) (*EvalKeys, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head := make([]byte, HeaderSize+1+seedSize)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: evaluation keys are truncated", ErrFormat)
	}
	p, id, rest, err := openFor(spec, head, KindEvalKeys)
	if err != nil {
		return nil, err
	}
	hasRelin := rest[0] == 1
	if hasRelin != spec.Relin || rest[0] > 1 {
		return nil, fmt.Errorf("%w: evaluation keys %s a relinearization key the circuit %s", ErrFormat,
			map[bool]string{true: "hold", false: "lack"}[hasRelin], map[bool]string{true: "needs", false: "does not use"}[spec.Relin])
	}
	ek := &EvalKeys{id: id}
	copy(ek.seed[:], rest[1:])
	fill := newKeyFiller(p, ek.seed, len(spec.Rotations)+1)
	read := func(index int, what string, g *rlwe.GadgetCiphertext) error {
		data := fill.buffer(packedGadgetSize(p, g))
		if _, err := io.ReadFull(br, data); err != nil {
			return fmt.Errorf("%w: evaluation keys are truncated in the %s", ErrFormat, what)
		}
		fill.submit(keyJob{index, what, g, data})
		return nil
	}
	err = func() error {
		if hasRelin {
			ek.relin = rlwe.NewRelinearizationKey(p, atLevel(spec.Params, spec.RelinLevel))
			if err := read(0, "relinearization key", &ek.relin.GadgetCiphertext); err != nil {
				return err
			}
		}
		count, err := binary.ReadUvarint(br)
		if err != nil || count != uint64(len(spec.Rotations)) {
			return fmt.Errorf("%w: evaluation keys hold %d Galois keys, the spec needs %d", ErrFormat, count, len(spec.Rotations))
		}
		for i, rot := range spec.Rotations {
			gk := rlwe.NewGaloisKey(p, atLevel(spec.Params, rot.Level))
			gk.GaloisElement, gk.NthRoot = rot.Galois, p.RingQ().NthRoot()
			if err := read(i+1, fmt.Sprintf("Galois key %d of %d", i+1, len(spec.Rotations)), &gk.GadgetCiphertext); err != nil {
				return err
			}
			ek.galois = append(ek.galois, gk)
		}
		if n, _ := br.Read(make([]byte, 1)); n != 0 {
			return fmt.Errorf("%w: bytes after the last evaluation key", ErrFormat)
		}
		return nil
	}()
	if werr := fill.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	return ek, nil
}

// keyJob is one key's packed halves b, read, waiting to be filled in.
type keyJob struct {
	index int
	what  string
	g     *rlwe.GadgetCiphertext
	data  []byte
}

// keyFiller fills keys in on every core. At most one buffer per worker
// plus the one being read exist at once.
type keyFiller struct {
	jobs chan keyJob
	free chan []byte
	errs []error // by key index
	wg   sync.WaitGroup
}

func newKeyFiller(p hefloat.Parameters, seed [seedSize]byte, keys int) *keyFiller {
	workers := goruntime.GOMAXPROCS(0)
	f := &keyFiller{jobs: make(chan keyJob), free: make(chan []byte, workers+1), errs: make([]error, keys)}
	for range workers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for j := range f.jobs {
				if err := fillHalves(j.data, p, seed, j.index, j.g); err != nil {
					f.errs[j.index] = fmt.Errorf("%s: %w", j.what, err)
				}
				f.free <- j.data
			}
		}()
	}
	return f
}

// buffer returns a buffer of size bytes, reusing one a worker is done with.
func (f *keyFiller) buffer(size int) []byte {
	var b []byte
	select {
	case b = <-f.free:
	default:
	}
	if cap(b) < size {
		b = make([]byte, size)
	}
	return b[:size]
}

func (f *keyFiller) submit(j keyJob) { f.jobs <- j }

// wait lets the workers finish and returns the first key's error.
func (f *keyFiller) wait() error {
	close(f.jobs)
	f.wg.Wait()
	for _, err := range f.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// openFor opens a key or ciphertext file, checks it belongs to spec and
// returns its key set.
func openFor(spec *plan.Spec, data []byte, kind Kind) (hefloat.Parameters, KeySetID, []byte, error) {
	h, payload, err := open(data, kind)
	if err != nil {
		return hefloat.Parameters{}, h.keys, nil, err
	}
	if err := checkFingerprint(kind, h.fingerprint, spec); err != nil {
		return hefloat.Parameters{}, h.keys, nil, err
	}
	p, err := newParameters(spec.Params)
	return p, h.keys, payload, err
}

// fileHeader is the header of a key or ciphertext of spec's key set id.
func fileHeader(spec *plan.Spec, id KeySetID) header {
	return header{fingerprint: spec.Fingerprint(), keys: id}
}

// sized is a Lattigo object preallocated with the expected shape.
type sized interface {
	BinarySize() int
	UnmarshalBinary([]byte) error
}

// unmarshalSized refuses data whose length differs from the preallocated
// object's, decodes it, and refuses a result whose levels or decomposition
// differ from the preallocated shape: equal lengths can hide another shape.
func unmarshalSized(what string, data []byte, into sized) error {
	if want := into.BinarySize(); len(data) != want {
		return fmt.Errorf("%w: %s has %d bytes, expected %d", ErrFormat, what, len(data), want)
	}
	before := shapeOf(into)
	if err := unmarshal(what, data, into); err != nil {
		return err
	}
	if after := shapeOf(into); after != before {
		return fmt.Errorf("%w: %s has shape %s, expected %s", ErrFormat, what, after, before)
	}
	return nil
}

// shapeOf summarises the levels of a Lattigo object: equal byte lengths
// can still hide another shape.
func shapeOf(v any) string {
	switch o := v.(type) {
	case *rlwe.SecretKey:
		return fmt.Sprintf("levels Q%d P%d", o.LevelQ(), o.LevelP())
	case *rlwe.PublicKey:
		return fmt.Sprintf("levels Q%d P%d", o.LevelQ(), o.LevelP())
	}
	return fmt.Sprintf("%T", v)
}
