package plan

import (
	"fmt"
	"math/big"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// ScalePlan holds the exact CKKS scale of every node's result and, for each
// affine node, the scale its diagonals are encoded at.
//
// Lattigo adds two ciphertexts of different scales by multiplying one by the
// integer part of their ratio, which for nearly equal scales (Δ and Δ²/q
// after a square) silently leaves a relative error near 2^-12. An affine map
// can land on any scale by choosing its plaintext scale, so the plan makes
// the later affine operand of every Add produce exactly the other
// operand's scale.
type ScalePlan struct {
	Out       map[*ir.Node]*big.Float
	Plaintext map[*ir.Node]*big.Float
}

// scalePrec is the precision of a scale, Lattigo's: its scales are
// big.Floats of 128 bits, and products and quotients keep that precision,
// so planning with the same operations gives the same bits.
const scalePrec = 128

// Scales plans the scales of g on a modulus chain whose ciphertext primes
// are q, perLevel of them per level (params.Set.PrimesPerLevel): a rescale
// at level ℓ divides by the primes of ℓ, the last first, as Lattigo does.
// Fresh values are at defaultScale.
func Scales(g *ir.Graph, q []uint64, perLevel int, defaultScale *big.Float) (*ScalePlan, error) {
	delta := new(big.Float).SetPrec(scalePrec).Set(defaultScale)
	prime := func(i int) *big.Float {
		return new(big.Float).SetPrec(scalePrec).SetInt(new(big.Int).SetUint64(q[i]))
	}
	mul := func(a, b *big.Float) *big.Float { return new(big.Float).Mul(a, b) }
	quo := func(a, b *big.Float) *big.Float { return new(big.Float).Quo(a, b) }
	// rescale is x divided by the primes of a level, and modulus their
	// product.
	rescale := func(x *big.Float, level int) *big.Float {
		for i := perLevel*level + perLevel - 1; i >= perLevel*level; i-- {
			x = quo(x, prime(i))
		}
		return x
	}
	modulus := func(level int) *big.Float {
		m := prime(perLevel * level)
		for i := perLevel*level + 1; i < perLevel*(level+1); i++ {
			m = mul(m, prime(i))
		}
		return m
	}
	if perLevel < 1 || len(q)%perLevel != 0 {
		return nil, fmt.Errorf("a chain of %d primes cannot have %d per level", len(q), perLevel)
	}
	for _, n := range g.Nodes {
		if n.Level < 0 || n.Level >= len(q)/perLevel {
			return nil, fmt.Errorf("node %s at level %d on a chain of %d levels", n.Label(), n.Level, len(q)/perLevel)
		}
	}
	target := map[*ir.Node]*big.Float{}
	users := g.Users()
	for range len(g.Nodes) + 1 {
		plan := &ScalePlan{Out: map[*ir.Node]*big.Float{}, Plaintext: map[*ir.Node]*big.Float{}}
		changed := false
		for _, n := range g.Nodes {
			var s *big.Float
			switch n.Op {
			case ir.OpInput:
				s = delta
			case ir.OpAffine:
				in := plan.Out[n.Inputs[0]]
				if n.Linear.Identity {
					s = in
					break
				}
				s = delta
				if t, ok := target[n]; ok {
					s = t
				}
				plan.Plaintext[n] = quo(mul(s, modulus(n.Inputs[0].Level)), in)
			case ir.OpPoly:
				in := plan.Out[n.Inputs[0]]
				if n.Poly.IsSquare() {
					s = rescale(mul(in, in), n.Inputs[0].Level)
				} else {
					s = delta // the polynomial evaluator lands on the scale it is given
				}
			case ir.OpMul:
				a, b := n.Inputs[0], n.Inputs[1]
				s = rescale(mul(plan.Out[a], plan.Out[b]), min(a.Level, b.Level))
			case ir.OpAdd:
				a, b := n.Inputs[0], n.Inputs[1]
				sa, sb := plan.Out[a], plan.Out[b]
				s = sa
				if sa.Cmp(sb) < 0 {
					s = sb
				}
				if sa.Cmp(sb) != 0 {
					// Tune whichever operand is an affine map read by this Add
					// alone, preferring the later one.
					for _, v := range []*ir.Node{b, a} {
						other := a
						if v == a {
							other = b
						}
						if v.Op == ir.OpAffine && !v.Linear.Identity && len(users[v]) == 1 {
							if _, set := target[v]; !set {
								target[v] = plan.Out[other]
								changed = true
							}
							break
						}
					}
				}
			case ir.OpOutput:
				s = plan.Out[n.Inputs[0]]
			default:
				return nil, fmt.Errorf("node %s: op %s cannot be evaluated under encryption", n.Label(), n.Op)
			}
			plan.Out[n] = s
		}
		if !changed {
			for _, n := range g.Nodes {
				if n.Op == ir.OpAdd && !CloseScales(plan.Out[n.Inputs[0]], plan.Out[n.Inputs[1]]) {
					return nil, fmt.Errorf("node %s adds ciphertexts whose scales cannot be matched (neither operand is an affine map read only by it)", n.Label())
				}
			}
			return plan, nil
		}
	}
	return nil, fmt.Errorf("scale planning did not converge")
}

// CloseScales reports whether two scales agree to 2^-40: the residue of
// big-float arithmetic, far below CKKS noise.
func CloseScales(a, b *big.Float) bool {
	r, _ := new(big.Float).Quo(a, b).Float64()
	return r > 1-1e-12 && r < 1+1e-12
}

// nominalScales plans the scales of g on primes of exactly the set's bit
// sizes.
func nominalScales(g *ir.Graph, set params.Set) (*ScalePlan, error) {
	q := make([]uint64, len(set.LogQ))
	for i, b := range set.LogQ {
		q[i] = uint64(1) << b
	}
	return SetScales(g, set, q)
}
