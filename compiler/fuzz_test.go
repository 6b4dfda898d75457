package compiler

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
)

// fuzzSeedTests are node tests whose models seed FuzzCompile when the ONNX
// test data is installed (make test installs it): one per family of
// lowering. The committed corpus (testdata/fuzz/FuzzCompile) holds only
// the inputs fuzzing found crashes with; the ONNX project's models stay in
// its package.
var fuzzSeedTests = []string{
	"test_conv_with_strides_padding", "test_convtranspose_pads", "test_gemm_all_attributes", "test_matmul_4d",
	"test_averagepool_2d_pads", "test_batchnorm_example", "test_resize_upsample_scales_cubic",
	"test_resize_tf_crop_and_resize", "test_split_variable_parts_2d", "test_einsum_batch_diagonal",
	"test_scatternd", "test_gathernd_example_int32_batch_dim1", "test_cumsum_2d_axis_0", "test_det_nd",
	"test_depthtospace_crd_mode_example", "test_reduce_prod_do_not_keepdims_example", "test_pow_bcast_array",
	"test_slice_neg_steps", "test_pad", "test_clip_default_max", "test_hardswish", "test_where_example",
	"test_maxunpool_export_with_output_shape", "test_tile", "test_trilu", "test_expand_dim_changed",
}

// FuzzCompile decodes a model, lowers it and runs the passes with an input
// range: whatever the bytes, the result is a graph or an error wrapping a
// sentinel, in one line, without a panic.
func FuzzCompile(f *testing.F) {
	for _, m := range [][]byte{onnxtest.TinyCryptoNets(1), onnxtest.PoolNet(1), onnxtest.DynamicTinyCryptoNets(1)} {
		f.Add(m)
	}
	for _, name := range fuzzSeedTests {
		if data, err := os.ReadFile(filepath.Join(onnxTestData, "node", name, "model.onnx")); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(compileFuzzInput)
}

func compileFuzzInput(t *testing.T, data []byte) {
	m, err := onnx.Decode(data)
	if err != nil {
		return // FuzzDecode covers the decoder
	}
	low, err := Lower(m, LowerOptions{Binds: bindAllButFirst(m)})
	if err != nil {
		if !errors.Is(err, ErrModel) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrUnsupportedOp) {
			t.Fatalf("lowering error wraps no sentinel: %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("lowering error is not one line: %q", err)
		}
		return
	}
	// A fixed degree keeps each input fast; the search is the passes'
	// business and their own tests'.
	cfg := &passes.Config{
		Ranges: &passes.RangeSource{Input: &ir.Interval{Lo: -1, Hi: 1}},
		Approx: passes.ApproxConfig{Degree: 7},
	}
	if err := passes.Run(low.Graph, passes.Pipeline, cfg); err != nil && strings.Contains(err.Error(), "\n") {
		t.Fatalf("pass error is not one line: %q", err)
	}
}

// bindAllButFirst binds every graph input after the first to a tensor of
// ones of its declared shape, as the conformance runner binds weights
// passed as inputs; inputs without a small static shape stay unbound.
func bindAllButFirst(m *onnx.Model) map[string]*ir.Tensor {
	binds := map[string]*ir.Tensor{}
	for _, in := range m.Graph.Inputs[min(1, len(m.Graph.Inputs)):] {
		shape := make([]int, len(in.Dims))
		size := 1
		for i, d := range in.Dims {
			if !in.HasShape || d.Param != "" || d.Value <= 0 || d.Value > 1<<12 {
				size = 0
				break
			}
			shape[i] = int(d.Value)
			size *= shape[i]
		}
		if size == 0 || size > 1<<16 {
			continue
		}
		t := ir.NewTensor(shape...)
		for i := range t.Data {
			t.Data[i] = 1
		}
		binds[in.Name] = t
	}
	return binds
}
