package compiler

import "fmt"

// ServerMemory is what a server is predicted to hold for a compiled
// circuit: the encoded weights once, and the evaluation keys of each
// client (params' estimate, for one key set); the buffers of the
// evaluations running at once come on top.
type ServerMemory struct {
	Keys    int64 // per client
	Encoded int64 // shared by every client
	// Budget is the memory the parameter choice held the keys to. Keys
	// and weights beyond it are warned about, not refused: Fashion-MNIST's
	// CNN at the parameters its noise asks for needs more.
	Budget int64
}

// Total is what a server holds for one client.
func (m ServerMemory) Total() int64 { return m.Keys + m.Encoded }

// Over reports whether keys and weights exceed the budget.
func (m ServerMemory) Over() bool { return m.Total() > m.Budget }

// Warning says what the server needs beyond the budget, and what for.
func (m ServerMemory) Warning() string {
	return fmt.Sprintf("the server needs ≈ %s for one client: evaluation keys %s, encoded weights %s, more than the %s budget the keys were chosen within",
		gib(m.Total()), gib(m.Keys), gib(m.Encoded), gib(m.Budget))
}

func (m ServerMemory) String() string {
	return fmt.Sprintf("the server holds ≈ %s for one client: encoded weights %s once, evaluation keys %s per client, and buffers per evaluation running",
		gib(m.Total()), gib(m.Encoded), gib(m.Keys))
}

func gib(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
