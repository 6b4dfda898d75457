package tensorio

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hecc-dev/hecc/ir"
)

// ReadNPZ reads a numpy .npz archive (np.savez or np.savez_compressed) and
// returns its arrays by name, without the ".npy" suffix.
func ReadNPZ(path string) (map[string]*ir.Tensor, error) {
	arrays, err := readNPZFile(path)
	if err != nil {
		return nil, fmt.Errorf("read .npz %s: %w", path, err)
	}
	return arrays, nil
}

func readNPZFile(path string) (map[string]*ir.Tensor, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, npzOpenError(err)
	}
	defer zr.Close()
	return readNPZ(&zr.Reader)
}

// npzOpenError classifies an error from opening the archive.
func npzOpenError(err error) error {
	if errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrInsecurePath) {
		return errorf(ErrMalformed, "not a .npz archive: %w", err)
	}
	return err
}

func readNPZ(zr *zip.Reader) (map[string]*ir.Tensor, error) {
	arrays := make(map[string]*ir.Tensor, len(zr.File))
	budget := ir.MaxElements // over all arrays, so many entries cannot add up
	for _, f := range zr.File {
		key, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok {
			return nil, errorf(ErrMalformed, "entry %q is not a .npy file", f.Name)
		}
		if _, dup := arrays[key]; dup {
			return nil, errorf(ErrMalformed, "array %q appears twice", key)
		}
		t, err := readNPZEntry(f, &budget)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", key, err)
		}
		arrays[key] = t
	}
	return arrays, nil
}

func readNPZEntry(f *zip.File, budget *int) (*ir.Tensor, error) {
	// archive/zip stops reading at the declared size, so bounding the
	// declared size bounds what a zip bomb can inflate to.
	if f.UncompressedSize64 > maxTensorBytes {
		return nil, errorf(ErrTooLarge, "entry is %d bytes uncompressed, more than %d", f.UncompressedSize64, int64(maxTensorBytes))
	}
	rc, err := f.Open()
	if errors.Is(err, zip.ErrAlgorithm) {
		return nil, errorf(ErrUnsupported, "cannot open entry: %w", err)
	} else if err != nil {
		return nil, errorf(ErrMalformed, "cannot open entry: %w", err)
	}
	defer rc.Close()
	t, err := readNPY(rc, *budget)
	if errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooLarge) {
		return nil, err
	} else if err != nil {
		// Anything else comes from inflating or checksumming the entry.
		return nil, errorf(ErrMalformed, "corrupt entry: %w", err)
	}
	*budget -= len(t.Data)
	// Reading to the end makes archive/zip verify the CRC and size.
	switch n, err := io.Copy(io.Discard, rc); {
	case err != nil:
		return nil, errorf(ErrMalformed, "corrupt entry: %w", err)
	case n > 0:
		return nil, errorf(ErrMalformed, "%d bytes of trailing data after the array", n)
	}
	return t, nil
}
