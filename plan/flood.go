package plan

import (
	"errors"
	"fmt"
	"math"
)

// Circuit privacy by noise flooding (docs/security.md): before the result
// leaves the server, it adds a fresh encryption of zero under the client's
// public key whose error coefficients are uniform in ±2^λ·B, where B bounds
// the coefficients of the error the server's evaluation put in the result.
// The client, who decrypts, then learns about the weights through that
// error only with an advantage of about 2^-λ per coefficient. The flood
// widens the output's error: the plan records the wider step decryption
// rounds to.

// MaxCircuitPrivacyBits bounds λ: a statistical distance of 2^-128 is as
// good as none, and a flood wider than 2^128·B fits no modulus.
const MaxCircuitPrivacyBits = 128

// DefaultCircuitPrivacyBits is the λ hecc compile and hecc bench flood at
// unless told otherwise: a statistical distance of 2^-40 per coefficient,
// the usual choice for statistical security parameters.
const DefaultCircuitPrivacyBits = 40

// maxFloodWidth bounds a flood's coefficients: the runtime samples them as
// integers of up to two 64-bit words, 2W+1 < 2^128. A usable flood stays
// far below the base level's modulus anyway (OutputStepUsable).
const maxFloodWidth = 0x1p126

// ErrNoCircuitPrivacy reports a circuit that cannot be flooded: the flood
// leaves no usable output precision, or is wider than the runtime samples.
var ErrNoCircuitPrivacy = errors.New("cannot flood the result for circuit privacy")

// Flood is what flooding at λ bits does to a plan's output.
type Flood struct {
	Bits int
	// Width is 2^λ·B, the half-width of the flood's coefficients, in the
	// units of the ciphertext's integers (B is NoiseTail·σ_server·Δ/√N:
	// the server's error in the slots, σ_server, spread over N
	// coefficients, at the output's scale Δ).
	Width float64
	// Sigma is the output's error σ after flooding, in the units of its
	// values: the unflooded error, the flood's and the public-key
	// encryption of zero's, added in quadrature.
	Sigma float64
}

// Step is the output step decryption rounds to after the flood.
func (f *Flood) Step() float64 { return OutputStep(NoiseTail * f.Sigma) }

// floodModel is what every λ's flood is computed from: one noise
// prediction of the plan.
type floodModel struct {
	n        float64 // ring degree
	outScale float64 // of the output, nominal
	out      float64 // the output's σ for a public-key encryption, unflooded
	server   float64 // the server's part of it
	zero     float64 // σ of a public-key encryption of zero at the output's scale
}

func (p *Plan) floodModel() (*floodModel, error) {
	set := p.Spec.Params
	noise, err := p.Noise(FreshSigma(set, true))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot bound the output's error: %w", ErrNoCircuitPrivacy, err)
	}
	scales, err := nominalScales(p.Graph, set)
	if err != nil {
		return nil, err
	}
	out := p.Graph.Outputs()[0]
	outScale, _ := scales.Out[out].Float64()
	// FreshSigma is in the units of values at the default scale; an
	// encryption of zero's error, in integers, is the same.
	zero := FreshSigma(set, true) * math.Exp2(float64(set.LogScale)) / outScale
	return &floodModel{n: float64(int(1) << set.LogN), outScale: outScale, out: noise.Sigma[out], server: noise.Server, zero: zero}, nil
}

// flood is the flood of λ bits, or an error if its width is beyond what
// the runtime samples or the output's error is unbounded.
func (m *floodModel) flood(bits int) (*Flood, error) {
	b := NoiseTail * m.server * m.outScale / math.Sqrt(m.n)
	width := math.Ceil(math.Ldexp(b, bits))
	if !(width < maxFloodWidth) || math.IsInf(m.out, 0) {
		return nil, fmt.Errorf("%w: a flood of 2^%d × %.3g is wider than the runtime samples (2^126)", ErrNoCircuitPrivacy, bits, b)
	}
	// Uniform coefficients in ±W have variance W²/3; a slot sums N of them.
	flood := math.Sqrt(m.n/3) * width / m.outScale
	return &Flood{Bits: bits, Width: width, Sigma: math.Sqrt(m.out*m.out + flood*flood + m.zero*m.zero)}, nil
}

// Flood is what flooding the plan's output at λ bits does.
func (p *Plan) Flood(bits int) (*Flood, error) {
	if bits < 1 || bits > MaxCircuitPrivacyBits {
		return nil, fmt.Errorf("%w: %d bits of circuit privacy (1 to %d)", ErrNoCircuitPrivacy, bits, MaxCircuitPrivacyBits)
	}
	m, err := p.floodModel()
	if err != nil {
		return nil, err
	}
	return m.flood(bits)
}

// MaxFloodBits is the largest λ whose flood leaves the output usable
// (OutputStepUsable for an output whose values span width), 0 if none.
func (p *Plan) MaxFloodBits(width float64) (int, error) {
	m, err := p.floodModel()
	if err != nil {
		return 0, err
	}
	best := 0
	for bits := 1; bits <= MaxCircuitPrivacyBits; bits++ {
		f, err := m.flood(bits)
		if err != nil || !OutputStepUsable(f.Step(), width) {
			break
		}
		best = bits
	}
	return best, nil
}

// SetCircuitPrivacy records in the spec a flood of λ bits (none for 0)
// and the output step it leaves, and validates the spec again.
func (p *Plan) SetCircuitPrivacy(bits int) error {
	if bits == 0 {
		return nil
	}
	f, err := p.Flood(bits)
	if err != nil {
		return err
	}
	p.Spec.CircuitPrivacyBits, p.Spec.FloodWidth, p.Spec.OutputStep = bits, f.Width, f.Step()
	return p.Spec.Validate()
}
