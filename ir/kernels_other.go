//go:build !amd64

package ir

// clenshawBlocks evaluates no value: Clenshaw's Go loop does them all.
func clenshawBlocks(y, c, t []float64) int { return 0 }

// productBlocks does no product: the Go loops do it.
func productBlocks(l *Linear, ys, xs [][]float64) bool { return false }
