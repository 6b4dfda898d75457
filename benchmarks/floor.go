package benchmarks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/runtime"
)

// PrimitiveTimer times one Lattigo primitive at a level of a circuit's
// parameters, with its keys: the median of reps runs, in seconds.
// *runtime.Server implements it; tests substitute their own.
type PrimitiveTimer interface {
	PrimitiveSeconds(op string, level, reps int) (float64, error)
}

// Floor is the cost of a circuit's primitives alone: what an evaluation
// would take with no runtime overhead. The ratio of the measured latency to
// it is the runtime's own cost.
type Floor struct {
	Terms    []FloorTerm `json:"terms"`
	Seconds  float64     `json:"seconds"`
	Measured float64     `json:"measured_seconds"`          // median evaluation, all cores
	OneCore  float64     `json:"measured_one_core_seconds"` // the same with one worker
	Ratio    float64     `json:"ratio"`                     // OneCore / Seconds: the runtime's overhead
}

// FloorTerm is one primitive's share of the floor.
type FloorTerm struct {
	Primitive string       `json:"primitive"`
	Count     int          `json:"count"`
	Seconds   float64      `json:"seconds"` // Σ over levels of count × cost
	Levels    []FloorLevel `json:"levels"`
}

// FloorLevel is a primitive's count and measured cost at one level.
type FloorLevel struct {
	Level int     `json:"level"`
	Count int     `json:"count"`
	Cost  float64 `json:"cost_seconds"`
}

// computeFloor costs every primitive the evaluation performed at the level
// it ran at (the runtime counts them so) and sums count × cost.
func computeFloor(t PrimitiveTimer, ops []runtime.OpCount, measured float64, reps int) (*Floor, error) {
	f := &Floor{Measured: measured}
	for _, op := range runtime.Primitives {
		term := FloorTerm{Primitive: op}
		for _, c := range ops {
			if c.Op != op {
				continue
			}
			cost, err := t.PrimitiveSeconds(op, c.Level, reps)
			if err != nil {
				return nil, fmt.Errorf("timing %s at level %d: %w", op, c.Level, err)
			}
			term.Levels = append(term.Levels, FloorLevel{Level: c.Level, Count: c.Count, Cost: cost})
			term.Count += c.Count
			term.Seconds += float64(c.Count) * cost
		}
		if term.Count > 0 {
			f.Terms = append(f.Terms, term)
			f.Seconds += term.Seconds
		}
	}
	for _, c := range ops {
		if !slices.Contains(runtime.Primitives, c.Op) {
			return nil, fmt.Errorf("the runtime counted %d of an unknown primitive %q", c.Count, c.Op)
		}
	}
	return f, nil
}

// floorMarkdown is the report's floor section: one row per model with each
// primitive's count and its share of the floor.
func floorMarkdown(models []ModelResult) string {
	var rows []string
	for _, m := range models {
		f := m.Floor
		if f == nil { // the encrypted part did not run
			continue
		}
		row := fmt.Sprintf("| %s | %.3f | %.3f | %.3f | %.2f |", m.Name, f.Seconds, f.OneCore, f.Measured, f.Ratio)
		for _, op := range runtime.Primitives {
			i := slices.IndexFunc(f.Terms, func(t FloorTerm) bool { return t.Primitive == op })
			if i < 0 {
				row += " – |"
				continue
			}
			row += fmt.Sprintf(" %d: %s |", f.Terms[i].Count, duration(f.Terms[i].Seconds))
		}
		rows = append(rows, row+"\n")
	}
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Floor: Lattigo primitives alone\n\n")
	b.WriteString("| model | floor s | one core s | two cores s | overhead |")
	for _, op := range runtime.Primitives {
		b.WriteString(" " + op + " |")
	}
	b.WriteString("\n|---|--:|--:|--:|--:|" + strings.Repeat("--:|", len(runtime.Primitives)) + "\n")
	b.WriteString(strings.Join(rows, ""))
	b.WriteString("\nEach primitive cell is how many the evaluation performed and their total cost: each counted at the level it ran at, " +
		"costed at the median of timed runs of that primitive at that level with the circuit's parameters and keys. " +
		"The floor is timed on one core, so the overhead is the evaluation with one worker (median of 3 runs, 1 when an evaluation takes over 5 s) divided by the floor; " +
		"*two cores* is the median of the benchmark above, with the baby steps and the giant steps of each linear transformation split over both cores. " +
		"Baby steps are timed in a batch of 8 sharing one decomposition and costed per step.\n\n")
	return b.String()
}

// duration writes seconds with a unit that keeps 2–3 significant digits.
func duration(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3g ms", s*1e3)
	default:
		return fmt.Sprintf("%.3g µs", s*1e6)
	}
}
