package worker

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kept is what a worker keeps of a job between running it and revealing
// its result: written before the commit, so a restarted node can reveal.
// The commit and the output's put go at once, so a record can be
// committed with its output not stored yet: Result holds the run's
// encoded compute.Result then, and Output is zero; once the output file
// is stored the record holds its reference instead.
type Kept struct {
	Job    [32]byte `json:"job"`
	Claim  Claim    `json:"claim"`
	Salt   []byte   `json:"salt"`
	Output Output   `json:"output"`
	// Result is the encoded compute.Result while Output is zero (a
	// worker restarted before the put finished stores it from here).
	Result []byte `json:"result,omitempty"`
}

// needsOutput reports whether k's output file is still to be stored: a
// run's claim whose put had not finished (an unavailable claim has no
// output).
func (k *Kept) needsOutput() bool {
	return k.Claim.Status != StatusUnavailable && k.Output.File == [32]byte{}
}

// State keeps Kept records (*DirState).
type State interface {
	// Load returns the record of job, an error wrapping fs.ErrNotExist
	// if there is none.
	Load(job [32]byte) (*Kept, error)
	// Save writes k durably (replacing any record of its job).
	Save(k *Kept) error
	// Delete removes the record of job (none is not an error).
	Delete(job [32]byte) error
}

// DirState keeps one JSON file per job in a directory, written atomically
// (a complete file renamed into place, then the directory synced).
type DirState struct {
	dir string
}

var _ State = (*DirState)(nil)

// OpenDirState returns the state in dir, creating it (mode 0700) and
// removing temporary files a crash left.
func OpenDirState(dir string) (*DirState, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("worker: state directory: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return &DirState{dir: dir}, nil
}

func (s *DirState) path(job [32]byte) string {
	return filepath.Join(s.dir, hex.EncodeToString(job[:])+".json")
}

// Load implements State.
func (s *DirState) Load(job [32]byte) (*Kept, error) {
	b, err := os.ReadFile(s.path(job))
	if err != nil {
		return nil, fmt.Errorf("worker: state of job %x: %w", job[:8], err)
	}
	var k Kept
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("worker: state of job %x is corrupt: %w", job[:8], err)
	}
	if k.Job != job {
		return nil, fmt.Errorf("worker: state file of job %x names job %x", job[:8], k.Job[:8])
	}
	return &k, nil
}

// Save implements State.
func (s *DirState) Save(k *Kept) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	p := s.path(k.Job)
	f, err := os.CreateTemp(s.dir, filepath.Base(p)+".*.tmp")
	if err != nil {
		return fmt.Errorf("worker: saving state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("worker: saving state: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Delete implements State.
func (s *DirState) Delete(job [32]byte) error {
	if err := os.Remove(s.path(job)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("worker: deleting state: %w", err)
	}
	return nil
}

// Jobs lists the jobs with a kept record.
func (s *DirState) Jobs() ([][32]byte, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out [][32]byte
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := hex.DecodeString(name)
		if err != nil || len(b) != 32 {
			continue
		}
		out = append(out, [32]byte(b))
	}
	return out, nil
}
