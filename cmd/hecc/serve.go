package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/serve"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve compiled models over HTTP: encrypted inference as a service (server side)",
		ArgsUsage: "MODEL.hec ...",
		Description: `Serves one or more compiled models. Clients fetch a model's spec, upload their
evaluation keys once (PUT /v1/keys, kept in --keys-dir and cached parsed in
memory) and post encrypted inputs (POST /v1/models/NAME/infer); the server
answers encrypted results and never holds a key that decrypts anything.
hecc query is such a client. See docs/serving.md for the API.

Evaluations run on --workers workers (one evaluation already uses every
core), --queue more wait; beyond that the server answers 503 with
Retry-After. SIGTERM or SIGINT stops it gracefully: evaluations under way
finish and are answered, new requests are refused.

With --ui, it also serves the browser client at /ui/: a page that makes keys,
encrypts a drawn digit and decrypts the result in the browser (WebAssembly),
sending the server only evaluation keys and ciphertexts.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: ":8080", Usage: "address to listen on"},
			&cli.StringFlag{Name: "keys-dir", Usage: "directory of uploaded evaluation keys (default: hecc/serve-keys in the user's cache directory)"},
			&cli.Float64Flag{Name: "key-cache-gib", Value: float64(serve.DefaultKeyCacheBytes) / (1 << 30), Usage: "memory for parsed key sets kept between requests"},
			&cli.IntFlag{Name: "workers", Value: serve.DefaultWorkers, Usage: "evaluations at once"},
			&cli.IntFlag{Name: "queue", Value: serve.DefaultQueue, Usage: "requests waiting for a worker before 503"},
			&cli.IntFlag{Name: "max-key-sets", Value: serve.DefaultMaxKeySets, Usage: "key sets kept in --keys-dir (the least recently used go first)"},
			&cli.DurationFlag{Name: "timeout", Value: serve.DefaultTimeout, Usage: "deadline of each inference, queueing included"},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with this certificate (PEM)"},
			&cli.StringFlag{Name: "tls-key", Usage: "the certificate's private key (PEM)"},
			&cli.BoolFlag{Name: "json-logs", Usage: "log JSON lines instead of text"},
			&cli.StringFlag{Name: "ui", Usage: "serve the browser client from `DIR` at /ui/ (make ui builds it into bin/ui)"},
			maxWeightsFlag,
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("usage: hecc serve MODEL.hec ... [--addr :8080] [--ui DIR]")
	}
	if (c.String("tls-cert") == "") != (c.String("tls-key") == "") {
		return usageError("--tls-cert and --tls-key go together")
	}
	if c.Int("workers") < 1 || c.Int("queue") < 0 || c.Int("max-key-sets") < 1 || c.Float64("key-cache-gib") <= 0 || c.Duration("timeout") <= 0 {
		return usageError("--workers, --max-key-sets, --key-cache-gib and --timeout must be positive, --queue at least 0")
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if c.Bool("json-logs") {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	logger := slog.New(handler)
	budget, err := weightsBudget(c)
	if err != nil {
		return err
	}
	var models []*serve.Model
	for _, path := range c.Args().Slice() {
		m, err := serve.LoadModel(path, budget...)
		if err != nil {
			return err
		}
		logger.Info("loaded model", "model", m.Name, "file", path, "compile", fmt.Sprintf("%x", m.Fingerprint[:6]))
		models = append(models, m)
	}
	dir := c.String("keys-dir")
	if dir == "" {
		var err error
		if dir, err = serve.DefaultKeysDir(); err != nil {
			return err
		}
	}
	store, err := serve.NewDirStore(dir)
	if err != nil {
		return err
	}
	var ui fs.FS
	if dir := c.String("ui"); dir != "" {
		ui = os.DirFS(dir)
	}
	srv, err := serve.New(serve.Config{
		Models: models, Keys: store,
		KeyCacheBytes: int64(c.Float64("key-cache-gib") * (1 << 30)),
		Workers:       c.Int("workers"), Queue: c.Int("queue"), MaxKeySets: c.Int("max-key-sets"),
		Timeout: c.Duration("timeout"), Logger: logger, UI: ui,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		srv.Close()
		return err
	}
	if ui != nil {
		logger.Info("serving the browser client at /ui/", "dir", c.String("ui"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, ln, c.String("tls-cert"), c.String("tls-key"))
}

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "classify an input with a model a hecc server serves, encrypted end to end (client side)",
		ArgsUsage: "INPUT.npy|INPUT.pb|INPUT.png|BATCH.npz",
		Description: `Fetches the model's spec (cached, checked against the fingerprint the server
lists), makes keys once per server, model and compile under --keys (the
secret key 0600, never sent), uploads eval.keys if the server lacks them,
encrypts the input, has the server evaluate it, decrypts the result and
prints the top classes. Each stage and its time goes to stderr.

A PNG (grayscale or colour) becomes the model input's channels (1: luminance,
3: RGB), each pixel value (0 to 255) through the input scaling the compile
recorded (hecc compile --input-scale, --input-mean, --input-std), or divided
by 255 when it recorded none; a tensor file goes through the scaling too.
Its size must be the input's unless --resize.

For a batch model (hecc compile --batch; GET /v1/models lists its layout and
batch size), the input is a batch as hecc encrypt reads it: an .npy, or an
.npz's array x, of up to the batch's inputs along a leading axis. The
result, one row per input (the padding slots dropped), goes to --output as
a float32 .npy; each stage's time goes to stderr (encrypt, upload with its
size, evaluate, download, decrypt), then the images per second.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "the server's URL, e.g. http://127.0.0.1:8080 (required)"},
			&cli.StringFlag{Name: "model", Usage: "the model's name on the server (required)"},
			&cli.StringFlag{Name: "keys", Usage: "directory of the client's keys (default: hecc/keys in the user's configuration directory)"},
			&cli.BoolFlag{Name: "resize", Usage: "scale a PNG of another size to the model's input"},
			&cli.IntFlag{Name: "top", Value: 3, Usage: "how many classes to print"},
			&cli.BoolFlag{Name: "json", Usage: `print {"output": [...], "shape": [...], "top": [...]}`},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "batch models: the outputs' .npy, one row per input (default: INPUT.out.npy)"},
			&cli.BoolFlag{Name: "strict", Usage: "batch models: refuse inputs outside the calibrated range instead of warning"},
		},
		Action: runQuery,
	}
}

func clientKeysDir(c *cli.Context) (string, error) {
	if d := c.String("keys"); d != "" {
		return d, nil
	}
	return serve.DefaultClientKeysDir()
}

func stageLine(stage string, d time.Duration) {
	fmt.Fprintf(os.Stderr, "hecc: %-40s %8.3f s\n", stage, d.Seconds())
}

func runQuery(c *cli.Context) error {
	if err := needFlags(c, "server", "model"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("query takes one input: .npy, .pb or .png")
	}
	client, err := serve.NewClient(c.String("server"))
	if err != nil {
		return usageError("--server: %v", err)
	}
	dir, err := clientKeysDir(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := serve.Open(ctx, client, c.String("model"), dir, stageLine)
	if err != nil {
		return err
	}
	in := c.Args().First()
	if s.Spec.Batched() {
		return queryBatch(ctx, c, s, in)
	}
	for _, f := range []string{"output", "strict"} {
		if c.IsSet(f) {
			return usageError("--%s is for batch models; %s takes one input per query", f, s.Model)
		}
	}
	t, err := readInput(in, s.Spec, c.Bool("resize"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "hecc: the compile predicts %.2g s of evaluation on the server\n", s.Info.PredictedSeconds)
	ans, err := s.Infer(ctx, t)
	if err != nil {
		return err
	}
	top := ans.Top[:min(c.Int("top"), len(ans.Top))]
	if c.Bool("json") {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"output": ans.Output.Data, "shape": ans.Output.Shape, "top": top})
	}
	fmt.Printf("top classes of %s:", in)
	for _, k := range top {
		fmt.Printf("  %d (%.4g)", k, ans.Output.Data[k])
	}
	fmt.Println()
	return nil
}

// queryBatch has a batch model evaluate a batch of inputs and writes one
// row of outputs per input.
func queryBatch(ctx context.Context, c *cli.Context, s *serve.Session, in string) error {
	t, err := readSamples(in)
	if err != nil {
		return err
	}
	t.Data = s.Spec.ScaleInput(t.Data)
	if err := s.Spec.CheckInputRange(t.Data); err != nil {
		if c.Bool("strict") {
			return fmt.Errorf("%s: %w", in, err)
		}
		fmt.Fprintf(os.Stderr, "hecc query: warning: %s: %v (--strict refuses it)\n", in, err)
	}
	fmt.Fprintf(os.Stderr, "hecc: the compile predicts %.2g s of evaluation on the server for a batch of up to %d\n", s.Info.PredictedSeconds, s.Spec.Batch)
	start := time.Now()
	ans, err := s.InferBatch(ctx, t)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	images := float64(ans.Scores.Shape[0])
	fmt.Fprintf(os.Stderr, "hecc: %d inputs in %.3f s: %.1f images/s end to end, %.1f images/s in the server's evaluation\n",
		ans.Scores.Shape[0], time.Since(start).Seconds(), images/time.Since(start).Seconds(), images/ans.EvalSeconds)
	out := c.String("output")
	if out == "" {
		out = replaceExt(in, ".out.npy")
	}
	if err := reportBatch(c, ans.Scores, ans.Output, out); err != nil {
		return err
	}
	if !c.Bool("json") {
		fmt.Printf("outputs of %s: %s %v\n", in, out, ans.Output.Shape)
	}
	return nil
}

// readInput reads a tensor file, or a PNG laid out as the model input,
// and applies the input scaling the compile recorded.
func readInput(path string, spec *plan.Spec, resize bool) (*ir.Tensor, error) {
	if !strings.HasSuffix(strings.ToLower(path), ".png") {
		t, err := tensorio.ReadFile(path)
		if err != nil {
			return nil, err
		}
		t.Data = spec.ScaleInput(t.Data)
		return t, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := serve.ImageTensor(img, spec, resize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func loadtestCommand() *cli.Command {
	return &cli.Command{
		Name:      "loadtest",
		Usage:     "load-test a hecc server on this machine",
		ArgsUsage: "[INPUT.npy|.npz ...]",
		Description: `Runs --clients concurrent clients, each sending encrypted inputs one after
the other for --duration (at most --max-requests in all), with one shared key
set, and reports throughput, p50/p99 latency and the server's resident
memory over time (read from its /metrics). Only a server on a loopback
address is accepted. Without inputs it sends the bundled test digits.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "http://127.0.0.1:8080", Usage: "the server's URL (loopback only)"},
			&cli.StringFlag{Name: "model", Usage: "the model's name on the server (required)"},
			&cli.StringFlag{Name: "keys", Usage: "directory of the client's keys (default: as hecc query)"},
			&cli.IntFlag{Name: "clients", Value: 8, Usage: "concurrent clients"},
			&cli.DurationFlag{Name: "duration", Value: time.Minute, Usage: "how long to send"},
			&cli.IntFlag{Name: "max-requests", Value: 10000, Usage: "most requests in all"},
			&cli.IntFlag{Name: "inputs", Value: 8, Usage: "distinct inputs to encrypt and send round robin"},
			&cli.StringFlag{Name: "testdata", Value: "testdata", Usage: "directory of the bundled samples"},
			&cli.StringFlag{Name: "json", Usage: "also write the report as JSON to `FILE`"},
		},
		Action: runLoadtest,
	}
}

func runLoadtest(c *cli.Context) error {
	if err := needFlags(c, "model"); err != nil {
		return err
	}
	dir, err := clientKeysDir(c)
	if err != nil {
		return err
	}
	var batch *ir.Tensor
	if c.NArg() > 0 {
		for _, path := range c.Args().Slice() {
			t, err := readSamples(path)
			if err != nil {
				return err
			}
			if batch == nil {
				batch = t
			} else {
				batch.Shape[0] += t.Shape[0]
				batch.Data = append(batch.Data, t.Data...)
			}
		}
	} else if batch, err = readSamples(c.String("testdata") + "/samples/mnist_test.npz"); err != nil {
		return fmt.Errorf("no inputs given and no bundled digits: %w", err)
	}
	var inputs []*ir.Tensor
	size := ir.NumElements(batch.Shape[1:])
	for i := range min(c.Int("inputs"), batch.Shape[0]) {
		inputs = append(inputs, &ir.Tensor{Shape: append([]int{1}, batch.Shape[1:]...), Data: batch.Data[i*size : (i+1)*size]})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := serve.LoadTest(ctx, serve.LoadConfig{
		Server: c.String("server"), Model: c.String("model"), KeysDir: dir,
		Clients: c.Int("clients"), Duration: c.Duration("duration"), MaxRequests: c.Int("max-requests"),
		Inputs: inputs, Progress: stageLine,
	})
	if err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	if f := c.String("json"); f != "" {
		j, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return writeFile(f, append(j, '\n'), 0o644)
	}
	return nil
}
