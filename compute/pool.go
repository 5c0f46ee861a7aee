package compute

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os/exec"
	"sync"
	"time"
)

// The parent–child protocol. The parent starts the child and writes a
// hello at once: a 4-byte big-endian length and a CBOR hello. The child
// sets up its runtime, loads the module the hello names from the cache (if
// any), then writes readyByte on stdout and reads the job request (CBOR,
// until EOF). Its response (CBOR) follows the ready byte. A child started
// for a job at once gets both messages together; a warm child of the pool
// gets the hello when started and the request when a job comes.

// The child's first byte on stdout: ready, or ready with the module the
// hello named loaded and instantiated (then the request may omit the
// module's bytes).
const (
	readyByte     = 0xA5
	preloadedByte = 0xA6
)

// maxHello bounds the hello message.
const maxHello = 4096

// hello is the first message to a child: where its cache is and which
// compiled module to load before a job comes (zero Module: none).
type hello struct {
	CacheDir    string `cbor:"cache_dir"`
	Module      Hash   `cbor:"module"`
	MemoryLimit uint64 `cbor:"memory_limit"`
}

// poolKey names what a warm child has loaded: the compiled module is a
// function of the module and the memory limit (instrumentConfig).
type poolKey struct {
	module Hash
	memory uint64
}

func keyOf(s *JobSpec) poolKey { return poolKey{module: s.Module, memory: s.MemoryLimit} }

// childOutput collects a child's stdout: the ready byte, then at most max
// bytes. Anything else (a wrong first byte, bytes before a job was handed
// over, more than max) marks it bad and kills the child.
type childOutput struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	max   int
	first byte // the first byte, once seen
	seen  bool // the first byte arrived
	bad   bool // the first byte was neither readyByte nor preloadedByte
	over  bool // more than max bytes
	ready chan struct{}
	kill  func()
}

func (c *childOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if n > 0 && !c.seen {
		c.seen, c.first = true, p[0]
		c.bad = p[0] != readyByte && p[0] != preloadedByte
		close(c.ready)
		p = p[1:]
		if c.bad {
			c.kill()
			return 0, errors.New("child did not signal readiness")
		}
	}
	if room := c.max - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		if !c.over {
			c.over = true
			c.kill()
		}
		return 0, errors.New("output cap reached")
	}
	c.buf.Write(p)
	return n, nil
}

// preloaded reports that the child said it has its module ready.
func (c *childOutput) preloaded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen && c.first == preloadedByte
}

// proc is a started child process waiting for, or running, one job.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	key    poolKey
	out    *childOutput
	stderr *cappedBuffer
	eof    chan struct{} // closed when its stdout is closed (answered, or dead)
	done   chan struct{} // closed once the process exited and its pipes are drained
	err    error         // Wait's error, set before done is closed
}

// startProc starts a child and sends it its hello.
func (r *Runner) startProc(h hello, key poolKey) (*proc, error) {
	hb, err := encMode.Marshal(&h)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.cfg.Command[0], r.cfg.Command[1:]...)
	cmd.Env = append([]string{"GOMAXPROCS=1", "GOTRACEBACK=single"}, r.cfg.Env...)
	p := &proc{cmd: cmd, key: key, eof: make(chan struct{}), done: make(chan struct{})}
	p.out = &childOutput{ready: make(chan struct{}), kill: p.kill}
	p.stderr = &cappedBuffer{max: 16 << 10, truncate: true}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.stdin.Close()
		return nil, err
	}
	setChildAttrs(cmd)
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		// Read to EOF before Wait, which closes the pipe.
		_, _ = io.Copy(p.out, stdout)
		close(p.eof)
		p.err = cmd.Wait()
		close(p.done)
	}()
	// Far below a pipe's buffer: never blocks.
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(hb)))
	if _, err := p.stdin.Write(append(msg, hb...)); err != nil {
		p.kill()
		<-p.done
		return nil, err
	}
	return p, nil
}

// kill ends the process; safe to call at any time, more than once.
func (p *proc) kill() { _ = p.cmd.Process.Kill() }

// reap waits in the background for p, which has answered and been
// killed, to exit, and for the writer of its request (wrote) to end;
// Close and waitWarm wait for it.
func (r *Runner) reap(p *proc, wrote <-chan struct{}) {
	r.pool.reaping.Add(1)
	go func() {
		defer r.pool.reaping.Done()
		<-p.done
		<-wrote
	}()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// pool keeps Config.WarmChildren started children waiting for a job. Each
// serves exactly one job; the one taken is replaced in the background by
// a child that preloads the module of the job it replaces.
type pool struct {
	mu      sync.Mutex
	idle    []*proc
	closed  bool
	wg      sync.WaitGroup // replacements being started
	reaping sync.WaitGroup // children that answered, until they have exited
}

// take returns a warm child for key, preferring one that has loaded it,
// or nil when there is none.
func (r *Runner) take(key poolKey) *proc {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	// Drop children that died while waiting (their Wait goroutine is done).
	live := r.pool.idle[:0]
	for _, p := range r.pool.idle {
		if !p.exited() {
			live = append(live, p)
		}
	}
	clear(r.pool.idle[len(live):])
	r.pool.idle = live
	if len(live) == 0 {
		return nil
	}
	i := 0
	for j, p := range live {
		if p.key == key {
			i = j
			break
		}
	}
	p := live[i]
	r.pool.idle = append(live[:i], live[i+1:]...)
	return p
}

// refill starts a warm child preloading key in the background, unless
// the runner is closed or the pool is full.
func (r *Runner) refill(key poolKey) {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	if r.pool.closed {
		return
	}
	r.pool.wg.Add(1)
	go func() {
		defer r.pool.wg.Done()
		h := hello{CacheDir: r.cfg.CacheDir}
		if r.cfg.CacheDir != "" {
			h.Module, h.MemoryLimit = key.module, key.memory
		}
		p, err := r.startProc(h, key)
		if err != nil {
			return // the next job starts its own child and reports the error
		}
		r.pool.mu.Lock()
		keep := !r.pool.closed && len(r.pool.idle) < r.cfg.WarmChildren
		if keep {
			r.pool.idle = append(r.pool.idle, p)
		}
		r.pool.mu.Unlock()
		if !keep {
			p.kill()
			<-p.done
		}
	}()
}

// waitWarm waits until the replacements being started are in the pool
// and every warm child has signalled readiness, and returns how many are
// warm (tests and benchmarks: a node's pool refills between jobs).
func (r *Runner) waitWarm(ctx context.Context) (int, error) {
	r.pool.wg.Wait()
	r.pool.reaping.Wait()
	r.pool.mu.Lock()
	idle := append([]*proc(nil), r.pool.idle...)
	r.pool.mu.Unlock()
	n := 0
	for _, p := range idle {
		select {
		case <-p.out.ready:
			n++
		case <-p.done:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	return n, nil
}

// Close kills the warm children and waits for them, and for children
// that have answered, to exit; jobs already running finish normally. Runs after Close start their own child. Close
// is idempotent.
func (r *Runner) Close() error {
	r.pool.mu.Lock()
	r.pool.closed = true
	idle := r.pool.idle
	r.pool.idle = nil
	r.pool.mu.Unlock()
	r.pool.wg.Wait()
	for _, p := range idle {
		p.kill()
	}
	for _, p := range idle {
		<-p.done
	}
	r.pool.reaping.Wait()
	return nil
}
