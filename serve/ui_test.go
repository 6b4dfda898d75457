package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

func fakeUI() fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, name := range UIFiles {
		fsys[name] = &fstest.MapFile{Data: []byte("<!-- " + name + " -->")}
	}
	return fsys
}

func TestUIRoutes(t *testing.T) {
	c, _ := compiled(t)
	ts := startServer(t, Config{UI: fakeUI()}, c)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, wantType, wantBody string
		status                   int
	}{
		{"/", "", "", http.StatusFound},
		{"/ui/", "text/html; charset=utf-8", "<!-- index.html -->", http.StatusOK},
		{"/ui/hecc.wasm", "application/wasm", "<!-- hecc.wasm -->", http.StatusOK},
		{"/ui/app.js", "text/javascript; charset=utf-8", "<!-- app.js -->", http.StatusOK},
		{"/ui/nothing.js", "", "", http.StatusNotFound},
		{"/nothing", "application/json", `"code":"not_found"`, http.StatusNotFound},
	} {
		resp, err := noRedirect.Get(ts.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == http.StatusFound && resp.Header.Get("Location") != "/ui/" {
			t.Errorf("GET %s redirects to %q, want /ui/", tc.path, resp.Header.Get("Location"))
		}
		if got := resp.Header.Get("Content-Type"); tc.wantType != "" && got != tc.wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.wantType)
		}
		if !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("GET %s: body %q, want %q in it", tc.path, body, tc.wantBody)
		}
		if strings.HasPrefix(tc.path, "/ui/") && tc.status == http.StatusOK && resp.Header.Get("Content-Security-Policy") != uiPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, resp.Header.Get("Content-Security-Policy"))
		}
	}
	// Without a UI there is no page.
	plain := startServer(t, Config{}, c)
	resp, err := noRedirect.Get(plain.url + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/ without a UI: %d, want 404", resp.StatusCode)
	}
}

func TestIncompleteUIRefused(t *testing.T) {
	c, _ := compiled(t)
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range UIFiles {
		fsys := fakeUI()
		delete(fsys, missing)
		srv, err := New(Config{Models: []*Model{m}, Keys: store, UI: fsys, Logger: testLogger(t)})
		if err == nil {
			srv.Close()
		}
		if !errors.Is(err, ErrUI) || !strings.Contains(err.Error(), missing) {
			t.Errorf("a UI without %s: %v, want ErrUI naming it", missing, err)
		}
	}
}

// buildUI assembles the browser client as `make ui` does, in a temporary
// directory.
func buildUI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pages, err := filepath.Glob("ui/*")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no page assets in serve/ui: %v", err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	for _, src := range append(pages, filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "hecc.wasm"), "../cmd/hecc-wasm")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hecc.wasm: %v\n%s", err, out)
	}
	return dir
}

// chromium is the browser the test drives; without it the test skips
// (fails under make test, which installs it).
func chromium(t *testing.T) string {
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	if os.Getenv(onnxtest.RequireTestDataEnv) == "1" {
		t.Fatalf("no chromium on PATH and %s=1: install Debian's chromium (make testdeps)", onnxtest.RequireTestDataEnv)
	}
	t.Skip("no chromium on PATH: install Debian's chromium (make testdeps) to run the browser client's test")
	return ""
}

// pageState is what the page exposes as window.heccPage.
type pageState struct {
	State  string    `json:"state"`
	Pixels []float64 `json:"pixels"`
	Input  []float64 `json:"input"`
	Answer *struct {
		Scores []float64 `json:"scores"`
		Top    []int     `json:"top"`
	} `json:"answer"`
	Stages []struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds"`
	} `json:"stages"`
	WasmSeconds float64 `json:"wasmSeconds"`
}

// sampleLabel is the label manifest.json records for a bundled sample.
func sampleLabel(t *testing.T, sample string) int {
	b, err := os.ReadFile(filepath.Join(testdata, "models", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Inputs map[string]struct {
			Label *int `json:"label"`
		} `json:"single_inputs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	in, ok := m.Inputs[sample]
	if !ok || in.Label == nil {
		t.Fatalf("manifest.json has no label for %s", sample)
	}
	return *in.Label
}

// drawDigit paints a 28×28 sample on the page's 280×280 canvas, each pixel
// a 10×10 square, as if drawn.
func drawDigit(t *testing.T, sample string) chromedp.Action[chromedp.Void] {
	x, err := tensorio.ReadFile(filepath.Join(testdata, sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Data) != 28*28 {
		t.Fatalf("%s has shape %v, want 28×28", sample, x.Shape)
	}
	vals, _ := json.Marshal(x.Data)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const vals = %s, c = document.getElementById('canvas').getContext('2d');
		c.fillStyle = '#000';
		c.fillRect(0, 0, 280, 280);
		vals.forEach((v, i) => {
			const g = Math.round(255 * v);
			c.fillStyle = 'rgb(' + g + ',' + g + ',' + g + ')';
			c.fillRect((i %% 28) * 10, Math.floor(i / 28) * 10, 10, 10);
		});
	})()`, vals))
}

// writeInvertedPNG writes a 28×28 sample as a PNG of dark ink on white,
// as a photographed or scanned digit would be.
func writeInvertedPNG(t *testing.T, sample string) string {
	x, err := tensorio.ReadFile(filepath.Join(testdata, sample))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i, v := range x.Data {
		img.Pix[i] = 255 - uint8(math.Round(255*v))
	}
	path := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(sample), ".npy")+".png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// uiDriver is the page hecc serve --ui serves with one circuit, in
// Chromium driven by chromedp, and what the page sent the server.
type uiDriver struct {
	t     *testing.T
	c     *runtime.Circuit
	store *DirStore // the server's keys
	url   string
	ctx   context.Context
	sent  sentLog

	mu       sync.Mutex
	problems []string // the page's exceptions and console errors
}

// newUIDriver builds the browser client, serves it with c on 127.0.0.1
// and starts Chromium.
func newUIDriver(t *testing.T, c *runtime.Circuit) *uiDriver {
	t.Helper()
	browser := chromium(t)
	ui := buildUI(t)
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Models: []*Model{m}, Keys: store, UI: os.DirFS(ui), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &uiDriver{t: t, c: c, store: store, url: "http://" + ln.Addr().String()}
	hs := &http.Server{Handler: d.sent.wrap(srv.Handler())}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(900, 760))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)

	// The page's exceptions and console errors (a refused request, a
	// violated security policy) fail the test.
	if err := chromedp.Listen(bctx, func(ev any) {
		d.mu.Lock()
		defer d.mu.Unlock()
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			ed := ev.ExceptionDetails
			desc := ed.Text
			if ed.Exception != nil {
				desc += " " + ed.Exception.Description
			}
			d.problems = append(d.problems, fmt.Sprintf("exception at %s:%d: %s", ed.URL, ed.LineNumber+1, desc))
		case *log.EventEntryAdded:
			// The page asks whether the server holds its keys before
			// uploading them, and uploads the public key when an
			// inference answers 428: that 404 and 428 are expected.
			expected := strings.Contains(ev.Entry.URL, "/v1/keys/") ||
				strings.HasSuffix(ev.Entry.URL, "/infer") && strings.Contains(ev.Entry.Text, "status of 428")
			if ev.Entry.Level == log.EntryLevelError && !expected {
				d.problems = append(d.problems, fmt.Sprintf("console error: %s (%s)", ev.Entry.Text, ev.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Chromium puts a request's whole body in its requestWillBeSent event
	// unless given a limit: the evaluation keys would cross the protocol
	// as base64, for chromedp to parse, many times their size in memory.
	noBodies := int64(1)
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{MaxPostDataSize: &noBodies}); err != nil {
		t.Fatal(err)
	}
	// A bound on the whole run, not a timed assertion: keygen and the
	// evaluation take seconds, a hang must not take the test's timeout.
	ctx, cancel := context.WithTimeout(bctx, 10*time.Minute)
	t.Cleanup(cancel)
	d.ctx = ctx
	return d
}

// classify puts a sample on the page with put, classifies it and checks
// the answer against the plaintext circuit on the input the page
// encrypted.
func (d *uiDriver) classify(sample string, put ...chromedp.Action[chromedp.Void]) pageState {
	t, c := d.t, d.c
	t.Helper()
	steps := append([]chromedp.Action[chromedp.Void]{
		chromedp.Poll[chromedp.Void](`['ready', 'done', 'error'].includes(document.body.dataset.state)`),
	}, put...)
	steps = append(steps,
		chromedp.Click("#classify"),
		// Bounded by d.ctx, not by the poll's own 30 s: a loaded machine
		// may take longer.
		chromedp.Poll[chromedp.Void](`['done', 'error'].includes(document.body.dataset.state)`,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)),
	)
	if err := chromedp.Do(d.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	st, err := chromedp.Run(d.ctx, chromedp.Evaluate[pageState](`window.heccPage`))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "done" || st.Answer == nil {
		status, _ := chromedp.Run(d.ctx, chromedp.Text("#status"))
		t.Fatalf("%s: the page ends in state %q: %s", sample, st.State, status)
	}
	for _, s := range st.Stages {
		t.Logf("%s: %-40s %7.3f s", sample, s.Name, s.Seconds)
	}
	// The page encrypted its pixels scaled as the spec says.
	scaled := c.Spec.ScalePixels(st.Pixels)
	if len(st.Input) != len(scaled) {
		t.Fatalf("%s: the page encrypted %d values of %d pixels", sample, len(st.Input), len(st.Pixels))
	}
	for i, v := range scaled {
		if math.Abs(st.Input[i]-v) > 1e-9 {
			t.Fatalf("%s: pixel %d, %g, became %g; the spec's input scaling makes %g", sample, i, st.Pixels[i], st.Input[i], v)
		}
	}
	// The answer is the plaintext circuit's on what the page sent, and
	// the sample's label.
	in := &ir.Tensor{Shape: c.Spec.Input.Shape, Data: st.Input}
	plain, err := ir.Interpret(c.Graph, map[string]*ir.Tensor{c.Spec.Input.Name: in})
	if err != nil {
		t.Fatal(err)
	}
	want := plain[c.Spec.Output.Name]
	if got, exp := st.Answer.Top[0], TopClasses(want)[0]; got != exp {
		t.Errorf("%s: the page's top class %d, the plaintext circuit's %d", sample, got, exp)
	}
	if label := sampleLabel(t, sample); st.Answer.Top[0] != label {
		t.Errorf("%s: the page's top class %d, the label %d", sample, st.Answer.Top[0], label)
	}
	// Decryption rounds to the spec's output step: half a step off, plus
	// CKKS noise below 1e-2, or a flood's within half the step (the step
	// is at least twice the flooded error's bound).
	tol := 1e-2
	if c.Spec.CircuitPrivacyBits > 0 {
		tol = max(tol, c.Spec.OutputStep/2)
	}
	if c.Spec.OutputRounded {
		tol += c.Spec.OutputStep / 2
		for _, v := range st.Answer.Scores {
			if q := v / c.Spec.OutputStep; q != math.Round(q) {
				t.Errorf("%s: the page shows %g, not a multiple of the output step %g", sample, v, c.Spec.OutputStep)
			}
		}
	}
	worst := 0.0
	for i, v := range want.Data {
		worst = max(worst, math.Abs(st.Answer.Scores[i]-v)/max(1, math.Abs(v)))
	}
	if worst > tol {
		t.Errorf("%s: decrypted scores %v, plaintext %v", sample, st.Answer.Scores, want.Data)
	}
	return st
}

func stageNames(st pageState) []string {
	var names []string
	for _, s := range st.Stages {
		names = append(names, strings.Fields(s.Name)[0])
	}
	return names
}

// checkProblems fails the test on the page's exceptions and console
// errors so far.
func (d *uiDriver) checkProblems() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.problems {
		d.t.Error(p)
	}
}

// checkSent makes sure nothing left the page unencrypted: the only bodies
// it sent were the evaluation keys, the public key (of the key set whose
// id it returns, "" if none) and encrypted inputs, so many of each.
func (d *uiDriver) checkSent(evalKeys, publicKeys, inputs int) (publicID string) {
	t := d.t
	t.Helper()
	d.sent.mu.Lock()
	defer d.sent.mu.Unlock()
	var gotEval, gotPublic, gotInputs int
	for _, r := range d.sent.reqs {
		rest, keys := strings.CutPrefix(r.path, "/v1/keys/")
		id, public := strings.CutSuffix(rest, "/public")
		public = public && keys
		switch {
		case r.body == 0 && (r.path == "/" || strings.HasPrefix(r.path, "/ui/") || strings.HasPrefix(r.path, "/v1/")):
		case r.method == http.MethodPut && r.path == "/v1/keys" && r.kind == runtime.KindEvalKeys:
			gotEval++
		case r.method == http.MethodPut && public && r.kind == runtime.KindPublicKey:
			gotPublic++
			publicID = id
		case r.method == http.MethodPost && r.path == "/v1/models/"+d.c.Spec.Model+"/infer" && r.kind == runtime.KindInputCt:
			gotInputs++
		default:
			t.Errorf("the page sent %s %s with a body of %d bytes (%v, %v)", r.method, r.path, r.body, r.kind, r.kindErr)
		}
	}
	if gotEval != evalKeys || gotPublic != publicKeys || gotInputs != inputs {
		t.Errorf("the page uploaded evaluation keys %d times, the public key %d times, and sent %d encrypted inputs; want %d, %d and %d",
			gotEval, gotPublic, gotInputs, evalKeys, publicKeys, inputs)
	}
	return publicID
}

// TestBrowserClient drives the page hecc serve --ui serves in Chromium:
// it draws a bundled digit, classifies it (keys made, encrypted and
// decrypted by hecc.wasm in the page), and checks the answer against the
// plaintext circuit on the input the page encrypted; then a dark-on-light
// image of another digit given to the file input; then, after a reload, a
// third digit with the keys the browser kept. The model's spec records an
// input scaling other than /255, which the page must apply.
// HECC_UI_SCREENSHOT=FILE saves a screenshot of the first answer.
func TestBrowserClient(t *testing.T) {
	c, _ := compiled(t)
	spec := *c.Spec
	spec.InputScaling = &plan.InputScaling{Scale: 1.05 / 255, Mean: []float64{0}, Std: []float64{1}}
	c = &runtime.Circuit{Spec: &spec, Graph: c.Graph}
	d := newUIDriver(t, c)
	ctx := d.ctx

	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	// Drawing with the mouse inks the canvas; Clear wipes it.
	const ink = `(() => {
		const d = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 280, 280).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++;
		return n;
	})()`
	at, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ X, Y float64 }](
		`(() => { const r = document.getElementById('canvas').getBoundingClientRect(); return {X: r.left, Y: r.top}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	stroke := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, at.X+60, at.Y+60, chromedp.ButtonLeft, chromedp.ClickCount(1))}
	for i := 1; i <= 10; i++ {
		stroke = append(stroke, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at.X+60+float64(16*i), at.Y+60+float64(16*i), chromedp.ButtonLeft))
	}
	stroke = append(stroke, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, at.X+220, at.Y+220, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	if err := chromedp.Do(ctx, stroke...); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](ink)); err != nil || n < 160*16 {
		t.Errorf("a stroke across the canvas lit %d pixels (%v), want a line about 22 wide and 220 long", n, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#clear")); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](ink)); err != nil || n != 0 {
		t.Errorf("after Clear, %d pixels lit (%v)", n, err)
	}

	first := d.classify("samples/digit0.npy", drawDigit(t, "samples/digit0.npy"))
	t.Logf("hecc.wasm loaded and instantiated in %.3f s", first.WasmSeconds)
	if got, want := stageNames(first), []string{"spec", "keygen", "upload", "encrypt", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Errorf("first classification's stages %v, want %v", got, want)
	}
	if path := os.Getenv("HECC_UI_SCREENSHOT"); path != "" {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// And a dark-on-light image chosen with the file input, on the same
	// page: the page inverts it.
	image := d.classify("samples/digit2.npy",
		chromedp.SetUploadFiles("#file", []string{writeInvertedPNG(t, "samples/digit2.npy")}),
		chromedp.Poll[chromedp.Void](`window.heccPage.image === 'digit2.png'`))
	if got, want := stageNames(image), []string{"encrypt", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Errorf("a second classification on the page: stages %v, want %v", got, want)
	}
	// After a reload the keys come from IndexedDB and the server holds
	// them already.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	reloaded := d.classify("samples/digit1.npy", drawDigit(t, "samples/digit1.npy"))
	if got, want := stageNames(reloaded), []string{"encrypt", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Errorf("after a reload, stages %v, want %v", got, want)
	}
	d.checkProblems()
	// The evaluation keys once, no public key (the circuit does not
	// flood), an encrypted input per digit.
	d.checkSent(1, 0, 3)
}

// TestBrowserClientFlooding: the page classifies a digit with a circuit
// that floods its results. It uploads the public key hecc.wasm made with
// the key set, after the evaluation keys, and the server holds it; the
// answer is the plaintext circuit's, rounded to the flooded output step
// as hecc decrypt rounds. A server that lost the public key answers 428,
// and the page uploads it again. After a reload nothing is uploaded
// again.
func TestBrowserClientFlooding(t *testing.T) {
	c := floodingCryptoNets(t)
	if !c.Spec.OutputRounded {
		t.Fatalf("the flooding circuit's output step %g is too coarse to round to: classify checks no rounding", c.Spec.OutputStep)
	}
	d := newUIDriver(t, c)
	if err := chromedp.Do(d.ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	first := d.classify("samples/digit0.npy", drawDigit(t, "samples/digit0.npy"))
	if got, want := stageNames(first), []string{"spec", "keygen", "upload", "upload", "encrypt", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Fatalf("first classification's stages %v, want %v", got, want)
	}
	if got := first.Stages[3].Name; !strings.HasPrefix(got, "upload public.key") {
		t.Errorf("the second upload is %q, want the public key's", got)
	}
	// The server loses the public key: the next inference answers 428,
	// and the page uploads it before trying again.
	ids, err := d.store.List()
	if err != nil || len(ids) != 1 {
		t.Fatalf("the server holds key sets %v (%v), want the page's", ids, err)
	}
	path, err := d.store.path(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(publicPath(path)); err != nil {
		t.Fatal(err)
	}
	again := d.classify("samples/digit2.npy", drawDigit(t, "samples/digit2.npy"))
	if got, want := stageNames(again), []string{"encrypt", "upload", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Fatalf("after the server lost the public key, stages %v, want %v", got, want)
	}
	if got := again.Stages[1].Name; !strings.HasPrefix(got, "upload public.key") {
		t.Errorf("the upload after a 428 is %q, want the public key's", got)
	}
	if err := chromedp.Do(d.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	reloaded := d.classify("samples/digit1.npy", drawDigit(t, "samples/digit1.npy"))
	if got, want := stageNames(reloaded), []string{"encrypt", "server", "decrypt"}; !slices.Equal(got, want) {
		t.Errorf("after a reload, stages %v, want %v", got, want)
	}
	d.checkProblems()
	id := d.checkSent(1, 2, 4)
	client, _ := NewClient(d.url)
	if info, ok, err := client.KeyInfo(d.ctx, id); err != nil || !ok || !info.PublicKey || !info.PublicKeyRequired {
		t.Errorf("the server holds of key set %q: %+v, held %v (%v); want its public key", id, info, ok, err)
	}
}

// sentLog records what a browser sends the server: each request's method,
// path and, for a body, the kind of hecc file it is.
type sentLog struct {
	mu   sync.Mutex
	reqs []sentRequest
}

type sentRequest struct {
	method, path string
	body         int
	kind         runtime.Kind
	kindErr      error
}

func (s *sentLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := sentRequest{method: r.Method, path: r.URL.Path, body: len(body)}
		if len(body) > 0 {
			req.kind, req.kindErr = runtime.PeekKind(body)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// TestUIWasmGzipped: hecc.wasm goes gzipped to a client that accepts gzip,
// as it is to one that does not, and a rebuilt file is compressed anew.
func TestUIWasmGzipped(t *testing.T) {
	c, _ := compiled(t)
	dir := t.TempDir()
	for name, f := range fakeUI() {
		if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wasm := bytes.Repeat([]byte("\x00asm hecc "), 1000)
	if err := os.WriteFile(filepath.Join(dir, "hecc.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{UI: os.DirFS(dir)}, c)
	// Go's transport would ask for gzip and decompress itself.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.url+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"*", true},
		{"", false},
		{"identity", false},
		{"gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"br", false},
	} {
		resp, body := get("/ui/hecc.wasm", tc.accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/wasm" ||
			!strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") || resp.Header.Get("Content-Security-Policy") != uiPolicy {
			t.Fatalf("Accept-Encoding %q: %d, headers %v", tc.accept, resp.StatusCode, resp.Header)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q", tc.accept, resp.Header.Get("Content-Encoding"))
		}
		if tc.gzip {
			if len(body) >= len(wasm)/10 {
				t.Errorf("Accept-Encoding %q: %d bytes for a file of %d that gzip shrinks tenfold", tc.accept, len(body), len(wasm))
			}
			body = gunzip(t, body)
		}
		if !bytes.Equal(body, wasm) {
			t.Fatalf("Accept-Encoding %q: the body is not hecc.wasm", tc.accept)
		}
	}
	// Other files are served as they are.
	if resp, body := get("/ui/app.js", "gzip"); resp.Header.Get("Content-Encoding") != "" || string(body) != "<!-- app.js -->" {
		t.Errorf("app.js: Content-Encoding %q, body %q", resp.Header.Get("Content-Encoding"), body)
	}
	// A rebuilt hecc.wasm is what clients get next.
	rebuilt := bytes.Repeat([]byte("\x00asm rebuilt "), 900)
	if err := os.WriteFile(filepath.Join(dir, "hecc.wasm"), rebuilt, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, body := get("/ui/hecc.wasm", "gzip"); !bytes.Equal(gunzip(t, body), rebuilt) {
		t.Error("after a rebuild, the gzipped hecc.wasm is the old file")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
