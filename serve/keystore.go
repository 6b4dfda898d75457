package serve

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/runtime"
)

// ErrNoKey reports a key set the store does not hold.
var ErrNoKey = errors.New("no such key set")

// KeyStore keeps uploaded evaluation-key files by id (the hex SHA-256 of
// their bytes). DirStore keeps them in a directory; a store shared by
// several servers can replace it.
type KeyStore interface {
	// Create starts storing a key file whose id is known only once it has
	// been read whole.
	Create() (PendingKeys, error)
	// Open reads a stored key file.
	Open(id string) (io.ReadCloser, error)
	// Stat reports whether the store holds id (ErrNoKey if not) and its size.
	Stat(id string) (int64, error)
	// Remove deletes a stored key file.
	Remove(id string) error
	// List returns every stored key set, least recently used first.
	List() ([]string, error)
	// Touch marks id as just used.
	Touch(id string) error
	// PutPublic stores the public key of key set id next to its
	// evaluation keys (a circuit that floods its results needs it); Remove
	// removes it with them.
	PutPublic(id string, data []byte) error
	// OpenPublic reads the public key of key set id: an error wrapping
	// runtime.ErrNoPublicKey if the store holds none.
	OpenPublic(id string) (io.ReadCloser, error)
}

// PendingKeys is a key file being written: Commit stores it under its id,
// Abort discards it.
type PendingKeys interface {
	io.Writer
	Commit(id string) error
	Abort() error
}

// validID says whether id has the form of a key set's id, which also keeps
// it a plain file name.
func validID(id string) bool {
	if len(id) != 64 || strings.ToLower(id) != id {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// DirStore keeps key files in a directory, one file per id, the last use
// recorded as the file's modification time.
type DirStore struct{ Dir string }

// NewDirStore creates dir (mode 0700: the keys are a client's) if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the key directory: %w", err)
	}
	return &DirStore{Dir: dir}, nil
}

// DefaultKeysDir is where hecc serve keeps uploaded keys unless told.
func DefaultKeysDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the uploaded keys (give --keys-dir): %w", err)
	}
	return filepath.Join(base, "hecc", "serve-keys"), nil
}

func (d *DirStore) path(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("%w: %q is not a key id", ErrNoKey, id)
	}
	return filepath.Join(d.Dir, id+".keys"), nil
}

// Create implements KeyStore.
func (d *DirStore) Create() (PendingKeys, error) {
	f, err := d.temp()
	if err != nil {
		return nil, fmt.Errorf("cannot store the keys: %w", err)
	}
	return &pendingFile{f: f, store: d}, nil
}

// temp creates a file to be renamed into place once written whole.
func (d *DirStore) temp() (*os.File, error) {
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(d.Dir, ".upload-"+hex.EncodeToString(suffix[:])), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
}

type pendingFile struct {
	f     *os.File
	store *DirStore
}

func (p *pendingFile) Write(b []byte) (int, error) { return p.f.Write(b) }

func (p *pendingFile) Commit(id string) error {
	dst, err := p.store.path(id)
	if err != nil {
		p.Abort()
		return err
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.f.Name())
		return err
	}
	return os.Rename(p.f.Name(), dst)
}

func (p *pendingFile) Abort() error {
	p.f.Close()
	return os.Remove(p.f.Name())
}

// Open implements KeyStore.
func (d *DirStore) Open(id string) (io.ReadCloser, error) {
	path, err := d.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, id)
	}
	return f, err
}

// Stat implements KeyStore.
func (d *DirStore) Stat(id string) (int64, error) {
	path, err := d.path(id)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s", ErrNoKey, id)
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Remove implements KeyStore.
func (d *DirStore) Remove(id string) error {
	path, err := d.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(publicPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Remove(path)
}

// publicPath is where the public key of the key set stored at path goes.
func publicPath(path string) string {
	return strings.TrimSuffix(path, ".keys") + ".public"
}

// PutPublic implements KeyStore.
func (d *DirStore) PutPublic(id string, data []byte) error {
	path, err := d.path(id)
	if err != nil {
		return err
	}
	f, err := d.temp()
	if err != nil {
		return fmt.Errorf("cannot store the public key: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), publicPath(path))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot store the public key: %w", err)
	}
	return nil
}

// OpenPublic implements KeyStore.
func (d *DirStore) OpenPublic(id string) (io.ReadCloser, error) {
	path, err := d.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(publicPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the server holds no public key of key set %s", runtime.ErrNoPublicKey, id)
	}
	return f, err
}

// Touch implements KeyStore.
func (d *DirStore) Touch(id string) error {
	path, err := d.path(id)
	if err != nil {
		return err
	}
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// List implements KeyStore.
func (d *DirStore) List() ([]string, error) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, err
	}
	type used struct {
		id string
		at time.Time
	}
	var keys []used
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".keys")
		if !ok || !validID(id) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		keys = append(keys, used{id, info.ModTime()})
	}
	// Oldest first; equal times keep the directory's (name) order.
	slices.SortStableFunc(keys, func(a, b used) int { return a.at.Compare(b.at) })
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.id
	}
	return ids, nil
}
