package benchmarks

import (
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
)

// NotesHeading starts the hand-written part of a markdown report: notes on
// past runs, dated. KeepNotes carries it over when a run rewrites the file,
// so that regenerating the tables does not erase what earlier runs taught.
const NotesHeading = "## Notes on past runs"

// KeepNotes returns md followed by the hand-written part of previous (the
// file md replaces), from its NotesHeading line on, if it has one.
func KeepNotes(md string, previous []byte) string {
	old := "\n" + string(previous)
	i := strings.Index(old, "\n"+NotesHeading+"\n")
	if i < 0 {
		return md
	}
	return strings.TrimRight(md, "\n") + "\n" + old[i:]
}

// Report is what Run measured.
type Report struct {
	Machine        Machine       `json:"machine"`
	Date           time.Time     `json:"date"`
	Command        string        `json:"command,omitempty"`
	Samples        int           `json:"samples"`
	MaxServerBytes int64         `json:"max_server_bytes"`
	Floor          bool          `json:"floor"`
	Models         []ModelResult `json:"models"`
}

// ModelResult is one model's row. Times are in seconds; the encrypted
// fields stay zero when the encrypted part was skipped or failed.
type ModelResult struct {
	Name string `json:"name"`
	File string `json:"file"`
	Data string `json:"data,omitempty"`
	// Compile and Spec are what the compile reported and planned, nil
	// when it failed; Summary, when set (hecc bench sets it from them),
	// opens the model's part of the markdown report in plain words.
	Compile *compiler.Report `json:"-"`
	Spec    *plan.Spec       `json:"-"`
	Summary string           `json:"summary,omitempty"`

	Params                params.Set `json:"params"`
	LogSlots              int        `json:"log_slots"` // of the layout
	Depth                 int        `json:"depth"`
	GaloisKeys            int        `json:"galois_keys"`
	Relin                 bool       `json:"relinearization_key"`
	CompileSeconds        float64    `json:"compile_seconds"`
	PredictedEvalKeyBytes int64      `json:"predicted_eval_key_bytes"` // the key file
	// EvalKeyMemoryBytes is what the keys take in the server's memory;
	// PredictedEncodedBytes what the circuit's encoded weights take there.
	EvalKeyMemoryBytes    int64 `json:"eval_key_memory_bytes"`
	PredictedEncodedBytes int64 `json:"predicted_encoded_bytes"`
	PredictedInputCtBytes int64 `json:"predicted_input_ciphertext_bytes"`

	SamplesRun      int   `json:"samples"`
	PlainAccuracy   Score `json:"plaintext_accuracy"` // the model as trained
	CircuitAccuracy Score `json:"circuit_accuracy"`   // approximations, no encryption

	// Skipped says why the encrypted part did not run.
	Skipped string `json:"skipped,omitempty"`
	// Error is the failure that stopped this model's benchmark.
	Error string `json:"error,omitempty"`

	KeygenSeconds float64 `json:"keygen_seconds,omitempty"`
	EvalKeyBytes  int64   `json:"eval_key_bytes,omitempty"`
	// EvalKeysSerialised says EvalKeyBytes was measured by serialising
	// the keys rather than predicted (see maxSerialisedKeys).
	EvalKeysSerialised bool    `json:"eval_keys_serialised"`
	SetupSeconds       float64 `json:"server_setup_seconds,omitempty"`
	// WeightBudgetBytes, for a model over MaxServerBytes whose keys fit,
	// is the weights budget its server ran with (runtime.MaxWeightBytes):
	// OnDemandBytes of weights were encoded in each evaluation, predicted
	// to cost PredictedOnDemandSeconds of CPU.
	WeightBudgetBytes        int64   `json:"weight_budget_bytes,omitempty"`
	OnDemandBytes            int64   `json:"on_demand_bytes,omitempty"`
	PredictedOnDemandSeconds float64 `json:"predicted_on_demand_seconds,omitempty"`
	// EncodedBytes is what the prepared circuit's weights took, measured
	// (PredictedEncodedBytes predicts it, less OnDemandBytes); BuffersBytes
	// what its buffers held after the samples, run one at a time.
	EncodedBytes      int64   `json:"encoded_bytes,omitempty"`
	BuffersBytes      int64   `json:"buffers_bytes,omitempty"`
	EncryptSeconds    float64 `json:"encrypt_seconds,omitempty"` // median
	InputCtBytes      int64   `json:"input_ciphertext_bytes,omitempty"`
	OutputCtBytes     int64   `json:"output_ciphertext_bytes,omitempty"`
	Eval              Latency `json:"eval_seconds"`
	DecryptSeconds    float64 `json:"decrypt_seconds,omitempty"` // median
	Counts            Counts  `json:"counts"`                    // of one evaluation
	EncryptedAccuracy Score   `json:"encrypted_accuracy"`
	Agreement         Score   `json:"agreement"` // encrypted vs plaintext circuit argmax
	MaxAbsError       float64 `json:"max_abs_error"`
	Floor             *Floor  `json:"floor,omitempty"`
}

// ran reports whether the encrypted part completed.
func (r *ModelResult) ran() bool { return r.Agreement.Of > 0 }

// Score counts right answers.
type Score struct {
	Right int `json:"right"`
	Of    int `json:"of"`
}

func (s *Score) add(right bool) {
	s.Of++
	if right {
		s.Right++
	}
}

func (s Score) String() string {
	if s.Of == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", s.Right, s.Of)
}

// Latency summarises the server's evaluation times over the samples.
type Latency struct {
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Counts are the runtime's operation counts for one evaluation.
type Counts struct {
	KeySwitches int `json:"key_switches"`
	Rescales    int `json:"rescales"`
	PtMuls      int `json:"plaintext_multiplications"`
	CtMuls      int `json:"ciphertext_multiplications"`
}

// Failed lists the models whose benchmark stopped on an error.
func (r *Report) Failed() []string {
	var out []string
	for _, m := range r.Models {
		if m.Error != "" {
			out = append(out, m.Name)
		}
	}
	return out
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown renders the report so that it reads on its own: the machine, the
// command, one table with a row per model, what each column means, and
// notes on what was skipped or failed.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# hecc benchmark\n\n")
	p("- **Date:** %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	if r.Command != "" {
		p("- **Command:** `%s`\n", r.Command)
	}
	p("- **Machine:** %s\n", r.Machine)
	p("- **Samples:** the first %d inputs of each model's sample set (all of them if it has fewer), run one at a time\n\n", r.Samples)

	summaries := false
	for _, m := range r.Models {
		if m.Summary == "" {
			continue
		}
		if !summaries {
			p("## Summary\n\n")
			summaries = true
		}
		p("### %s\n\n%s\n", m.Name, m.Summary)
	}
	if summaries {
		p("## Measurements\n\n")
	}
	p("| model | logN | chain (bits) | scale | slots | depth | compile s | keygen s | setup s | key file MiB | keys in memory MiB | encrypt ms | ct MiB | eval median s | eval p90 s | decrypt ms | plaintext acc | encrypted acc | agreement | max err |\n")
	p("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, m := range r.Models {
		row := []string{m.Name}
		if m.Params.LogN == 0 { // the compile failed
			row = append(row, repeat("–", 19)...)
			p("| %s |\n", strings.Join(row, " | "))
			continue
		}
		row = append(row,
			fmt.Sprint(m.Params.LogN), chain(m.Params), fmt.Sprintf("2^%d", m.Params.LogScale),
			fmt.Sprint(1<<m.LogSlots), fmt.Sprint(m.Depth), fmt.Sprintf("%.2f", m.CompileSeconds))
		if m.ran() {
			row = append(row,
				fmt.Sprintf("%.2f", m.KeygenSeconds), fmt.Sprintf("%.2f", m.SetupSeconds), map[bool]string{true: "", false: "≈"}[m.EvalKeysSerialised]+mib(m.EvalKeyBytes), mib(m.EvalKeyMemoryBytes),
				fmt.Sprintf("%.1f", 1000*m.EncryptSeconds),
				mib(m.InputCtBytes), fmt.Sprintf("%.3f", m.Eval.Median), fmt.Sprintf("%.3f", m.Eval.P90),
				fmt.Sprintf("%.1f", 1000*m.DecryptSeconds), m.PlainAccuracy.String(), m.EncryptedAccuracy.String(),
				m.Agreement.String(), fmt.Sprintf("%.1e", m.MaxAbsError))
		} else {
			row = append(row, "–", "–", "≈"+mib(m.PredictedEvalKeyBytes), mib(m.EvalKeyMemoryBytes), "–", "≈"+mib(m.PredictedInputCtBytes), "–", "–", "–",
				m.PlainAccuracy.String(), "–", "–", "–")
		}
		p("| %s |\n", strings.Join(row, " | "))
	}

	p("\n**Columns.** *chain*: bit sizes of the ciphertext primes (first prime + scale primes × levels) and of the key-switching primes (P). ")
	p("*slots*: slots the layout uses. *compile*: ONNX to circuit, calibration included. *keygen*: secret, public, relinearization and rotation keys. *setup*: the server preparing the circuit with the keys (encoding every linear transformation), once per model. ")
	p("*key file*, *ct*: serialised sizes of the evaluation keys and of one encrypted input (≈: the runtime's prediction, for keys not generated or too large to serialise here); the key file holds half of each key, packed, and a seed the server regenerates the other half from; the input is encrypted under the public key (under the secret key, as `hecc encrypt --key secret.key`, its file carries a seed instead of each ciphertext's c1: about half the size). *keys in memory*: the keys as the server holds them. ")
	p("*encrypt* (under the public key), *eval* (server side, circuit and keys already loaded, in this process) and *decrypt* are per input: medians, and the 90th percentile (nearest rank) for eval. ")
	p("*plaintext acc*: the model as trained (exact activations) against the labels; *encrypted acc*: the decrypted result's top class against the labels; ")
	p("*agreement*: encrypted top class = top class of the same circuit run in plaintext; *max err*: largest absolute difference between decrypted and plaintext-circuit outputs.\n")

	var notes []string
	for _, m := range r.Models {
		notes = append(notes, modelNotes(m)...)
	}
	if len(notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range notes {
			p("- %s\n", n)
		}
	}
	if r.Floor {
		p("\n%s", floorMarkdown(r.Models))
	}
	return b.String()
}

func modelNotes(m ModelResult) []string {
	var out []string
	name := "**" + m.Name + "**"
	if m.Error != "" {
		out = append(out, fmt.Sprintf("%s failed: %s.", name, m.Error))
	}
	if m.Params.LogN == 0 {
		return out
	}
	var facts []string
	if m.Data != "" {
		facts = append(facts, m.Data)
	}
	facts = append(facts, fmt.Sprintf("%d Galois keys%s", m.GaloisKeys, map[bool]string{true: " + relinearization key", false: ""}[m.Relin]))
	if m.CircuitAccuracy.Of > 0 {
		facts = append(facts, fmt.Sprintf("plaintext circuit (approximations, no encryption) %s", m.CircuitAccuracy))
	}
	if m.ran() {
		facts = append(facts,
			fmt.Sprintf("eval min %.3f s, max %.3f s", m.Eval.Min, m.Eval.Max),
			fmt.Sprintf("%d key switches, %d rescales, %d plaintext and %d ciphertext multiplications per evaluation",
				m.Counts.KeySwitches, m.Counts.Rescales, m.Counts.PtMuls, m.Counts.CtMuls),
			fmt.Sprintf("result ciphertext %s MiB", mib(m.OutputCtBytes)))
	}
	out = append(out, fmt.Sprintf("%s: %s.", name, strings.Join(facts, "; ")))
	if m.Skipped != "" {
		out = append(out, fmt.Sprintf("%s: encrypted part skipped: %s.", name, m.Skipped))
	}
	if m.OnDemandBytes > 0 {
		out = append(out, fmt.Sprintf("%s: evaluation keys %s and encoded weights %s exceed --max-server-gib: the server kept %s of the weights and encoded the other %s in each evaluation, predicted to cost %.1f s of CPU.",
			name, gib(m.EvalKeyMemoryBytes), gib(m.PredictedEncodedBytes), gib(m.PredictedEncodedBytes-m.OnDemandBytes), gib(m.OnDemandBytes), m.PredictedOnDemandSeconds))
	}
	return out
}

// chain writes a modulus chain compactly: "34+29×5, P 35".
func chain(s params.Set) string {
	runs := func(bits []int) string {
		var parts []string
		for i := 0; i < len(bits); {
			j := i
			for j < len(bits) && bits[j] == bits[i] {
				j++
			}
			if j-i == 1 {
				parts = append(parts, fmt.Sprint(bits[i]))
			} else {
				parts = append(parts, fmt.Sprintf("%d×%d", bits[i], j-i))
			}
			i = j
		}
		return strings.Join(parts, "+")
	}
	return runs(s.LogQ) + ", P " + runs(s.LogP)
}

func mib(n int64) string { return fmt.Sprintf("%.2f", float64(n)/(1<<20)) }

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Machine describes where a report was measured. The load averages matter
// on a shared machine: another job's load shows up in every latency.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	OS         string `json:"os"`
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	LoadBefore string `json:"load_average_before"`
	LoadAfter  string `json:"load_average_after"`
}

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores (GOMAXPROCS %d)", m.CPU, m.Cores, m.GOMAXPROCS)
	if m.MemoryGiB > 0 {
		s += fmt.Sprintf(", %d GiB", m.MemoryGiB)
	}
	s += fmt.Sprintf(", %s, %s", m.OS, m.GoVersion)
	if m.LoadBefore != "" {
		s += fmt.Sprintf("; load average %s before, %s after", m.LoadBefore, m.LoadAfter)
	}
	return s
}

// Describe reads what it can about this machine; on systems without /proc
// the fields it cannot find are left empty.
func Describe() Machine {
	m := Machine{
		CPU:        "unknown CPU",
		Cores:      goruntime.NumCPU(),
		OS:         goruntime.GOOS + "/" + goruntime.GOARCH,
		GoVersion:  goruntime.Version(),
		GOMAXPROCS: goruntime.GOMAXPROCS(0),
		LoadBefore: loadAverage(),
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPU = v
	}
	var kb int
	if _, err := fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%d kB", &kb); err == nil {
		m.MemoryGiB = (kb + 1<<19) >> 20
	}
	if name := osRelease(); name != "" {
		m.OS = name + ", " + m.OS
	}
	if kernel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", kernel " + strings.TrimSpace(string(kernel))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file.
func procField(path, key string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osRelease() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// loadAverage is the 1-, 5- and 15-minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
