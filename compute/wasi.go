package compute

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/coop-network/coop/compute/internal/wasip1"
)

// Host charges, in fuel, on top of the instrumented call instruction.
const (
	// HostCallCost is charged on every host function call.
	HostCallCost = 50
	// HostBytesPerFuel is how many bytes a host function moves per fuel
	// (fd_read, fd_write, random_get, args_get).
	HostBytesPerFuel = 16
	// LogicalEpoch is the wall-clock time a job sees before it used any
	// fuel: 2024-01-01T00:00:00Z, in nanoseconds since the Unix epoch.
	LogicalEpoch = 1704067200 * 1_000_000_000
	// NanosPerFuel is how far the logical clocks advance per unit of fuel.
	NanosPerFuel = 1
)

// Errors a host function returns to stop the host (see host.call); the run
// is classified from the host state.
var (
	errExit        = errors.New("proc_exit")
	errOutOfFuel   = errors.New("out of fuel")
	errOutputLimit = errors.New("output limit exceeded")
)

// fuelCounter reads and writes the instrumented module's fuel global.
type fuelCounter interface {
	get() int64
	set(int64)
}

// host is the WASI preview 1 implementation shared by every runtime
// adapter: the adapters provide memory and fuel access and convert values.
type host struct {
	mem        func() []byte
	fuel       fuelCounter
	fuelLimit  int64
	args       [][]byte
	stdin      []byte
	stdout     []byte
	maxOut     int
	stderr     []byte
	slept      uint64 // logical nanoseconds spent in poll_oneoff
	seed       Hash
	randCtr    uint64
	randBuf    []byte
	exited     bool
	exitCode   uint32
	stopped    bool
	fuelAtStop int64
	trap       TrapKind
}

func newHost(spec *JobSpec, jobID Hash, input []byte) *host {
	h := &host{
		fuelLimit: int64(spec.FuelLimit),
		stdin:     input,
		maxOut:    int(spec.MaxOutput),
		seed:      jobID,
	}
	h.args = append(h.args, []byte("job"))
	for _, a := range spec.Args {
		h.args = append(h.args, []byte(a))
	}
	return h
}

// hostFunc is a WASI function over raw values (i32 as uint32 in uint64).
type hostFunc func(h *host, a []uint64) (uint64, error)

// hostFuncs implements the preview 1 functions a job may use; the rest of
// wasip1.Signatures answers ENOSYS.
var hostFuncs = map[string]hostFunc{
	"args_sizes_get":      (*host).argsSizesGet,
	"args_get":            (*host).argsGet,
	"environ_sizes_get":   (*host).environSizesGet,
	"environ_get":         func(*host, []uint64) (uint64, error) { return wasip1.ErrnoSuccess, nil },
	"clock_res_get":       (*host).clockResGet,
	"clock_time_get":      (*host).clockTimeGet,
	"fd_write":            (*host).fdWrite,
	"fd_read":             (*host).fdRead,
	"fd_close":            (*host).fdClose,
	"fd_fdstat_get":       (*host).fdFdstatGet,
	"fd_fdstat_set_flags": (*host).fdClose, // accepted and ignored on stdio
	"fd_prestat_get":      func(*host, []uint64) (uint64, error) { return wasip1.ErrnoBadf, nil },
	"fd_prestat_dir_name": func(*host, []uint64) (uint64, error) { return wasip1.ErrnoBadf, nil },
	"poll_oneoff":         (*host).pollOneoff,
	"sched_yield":         func(*host, []uint64) (uint64, error) { return wasip1.ErrnoSuccess, nil },
	"random_get":          (*host).randomGet,
	"proc_exit":           (*host).procExit,
}

// call runs WASI function name after charging its base cost. Host
// functions never return an error to the runtime (wasmer-go 1.0.4 frees
// the trap of a failing host function twice): to stop the guest they stop
// the host, which drives the fuel far below zero so that the guest traps
// at its next metering point, at most one segment later. Until then every
// host call is a no-op, so the guest can no longer change the outcome.
func (h *host) call(name string, a []uint64) uint64 {
	if h.stopped {
		return wasip1.ErrnoNosys
	}
	if err := h.charge(HostCallCost); err != nil {
		return wasip1.ErrnoNosys
	}
	f, ok := hostFuncs[name]
	if !ok {
		return wasip1.ErrnoNosys
	}
	r, err := f(h, a)
	if err != nil {
		h.stop()
	}
	return r
}

// stopFuel is the fuel a stopped guest sees: far enough below zero that
// no run of charges can wrap it around.
const stopFuel = math.MinInt64 / 2

// stop freezes the outcome: fuel used, output and exit status are taken
// from this moment.
func (h *host) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	h.fuelAtStop = h.fuel.get()
	h.fuel.set(stopFuel)
}

func (h *host) charge(n int64) error {
	f := h.fuel.get() - n
	h.fuel.set(f)
	if f < 0 {
		h.stop()
		return errOutOfFuel
	}
	return nil
}

func (h *host) chargeBytes(n int) error { return h.charge(int64(n / HostBytesPerFuel)) }

// fuelLeft is the remaining fuel, as of the stop if the host stopped.
func (h *host) fuelLeft() int64 {
	if h.stopped {
		return h.fuelAtStop
	}
	return h.fuel.get()
}

// fuelUsed is how much fuel the guest consumed so far.
func (h *host) fuelUsed() uint64 {
	f := h.fuelLeft()
	if f < 0 {
		return uint64(h.fuelLimit)
	}
	return uint64(h.fuelLimit - f)
}

// region returns memory[off:off+n] or nil when out of bounds.
func (h *host) region(off, n uint64) []byte {
	m := h.mem()
	if off > uint64(len(m)) || n > uint64(len(m))-off {
		return nil
	}
	return m[off : off+n]
}

func (h *host) putU32(off uint64, v uint32) bool {
	b := h.region(off, 4)
	if b == nil {
		return false
	}
	binary.LittleEndian.PutUint32(b, v)
	return true
}

func (h *host) putU64(off uint64, v uint64) bool {
	b := h.region(off, 8)
	if b == nil {
		return false
	}
	binary.LittleEndian.PutUint64(b, v)
	return true
}

func (h *host) argsSizesGet(a []uint64) (uint64, error) {
	n := 0
	for _, s := range h.args {
		n += len(s) + 1
	}
	if !h.putU32(a[0], uint32(len(h.args))) || !h.putU32(a[1], uint32(n)) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) argsGet(a []uint64) (uint64, error) {
	ptrs, buf := a[0], a[1]
	for i, s := range h.args {
		if err := h.chargeBytes(len(s)); err != nil {
			return 0, err
		}
		dst := h.region(buf, uint64(len(s))+1)
		if dst == nil || !h.putU32(ptrs+4*uint64(i), uint32(buf)) {
			return wasip1.ErrnoFault, nil
		}
		copy(dst, s)
		dst[len(s)] = 0
		buf += uint64(len(s)) + 1
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) environSizesGet(a []uint64) (uint64, error) {
	if !h.putU32(a[0], 0) || !h.putU32(a[1], 0) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) clockResGet(a []uint64) (uint64, error) {
	if a[0] > 3 {
		return wasip1.ErrnoInval, nil
	}
	if !h.putU64(a[1], NanosPerFuel) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

// now is the logical time of clock id: fuel used plus time slept, offset
// by LogicalEpoch for the realtime clock.
func (h *host) now(id uint64) uint64 {
	t := h.fuelUsed()*NanosPerFuel + h.slept
	if id == 0 {
		t += LogicalEpoch
	}
	return t
}

func (h *host) clockTimeGet(a []uint64) (uint64, error) {
	if a[0] > 3 {
		return wasip1.ErrnoInval, nil
	}
	if !h.putU64(a[2], h.now(a[0])) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

// iovecs returns the guest buffers of an iovec array.
func (h *host) iovecs(iovs, n uint64) ([][]byte, bool) {
	if n > 1024 {
		return nil, false
	}
	raw := h.region(iovs, 8*n)
	if raw == nil {
		return nil, false
	}
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		p := uint64(binary.LittleEndian.Uint32(raw[8*i:]))
		l := uint64(binary.LittleEndian.Uint32(raw[8*i+4:]))
		b := h.region(p, l)
		if b == nil {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

func (h *host) fdWrite(a []uint64) (uint64, error) {
	fd := a[0]
	if fd != 1 && fd != 2 {
		return wasip1.ErrnoBadf, nil
	}
	bufs, ok := h.iovecs(a[1], a[2])
	if !ok {
		return wasip1.ErrnoFault, nil
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if err := h.chargeBytes(total); err != nil {
		return 0, err
	}
	for _, b := range bufs {
		if fd == 1 {
			if len(h.stdout)+len(b) > h.maxOut {
				h.trap = TrapOutputLimit
				return 0, errOutputLimit
			}
			h.stdout = append(h.stdout, b...)
		} else if room := MaxStderr - len(h.stderr); room > 0 {
			h.stderr = append(h.stderr, b[:min(room, len(b))]...)
		}
	}
	if !h.putU32(a[3], uint32(total)) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) fdRead(a []uint64) (uint64, error) {
	if a[0] != 0 {
		return wasip1.ErrnoBadf, nil
	}
	bufs, ok := h.iovecs(a[1], a[2])
	if !ok {
		return wasip1.ErrnoFault, nil
	}
	n := 0
	for _, b := range bufs {
		c := copy(b, h.stdin)
		h.stdin = h.stdin[c:]
		n += c
	}
	if err := h.chargeBytes(n); err != nil {
		return 0, err
	}
	if !h.putU32(a[3], uint32(n)) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) fdClose(a []uint64) (uint64, error) {
	if a[0] > 2 {
		return wasip1.ErrnoBadf, nil
	}
	return wasip1.ErrnoSuccess, nil
}

// fdFdstatGet describes stdin, stdout and stderr as character devices.
func (h *host) fdFdstatGet(a []uint64) (uint64, error) {
	if a[0] > 2 {
		return wasip1.ErrnoBadf, nil
	}
	b := h.region(a[1], 24)
	if b == nil {
		return wasip1.ErrnoFault, nil
	}
	clear(b)
	b[0] = 2                 // character device
	rights := uint64(1 << 1) // fd_read
	if a[0] > 0 {
		rights = 1 << 6 // fd_write
	}
	binary.LittleEndian.PutUint64(b[8:], rights|1<<27) // | poll_fd_readwrite
	return wasip1.ErrnoSuccess, nil
}

// pollOneoff answers fd subscriptions on stdio at once (they never block)
// and otherwise advances the logical clock to the earliest clock timeout.
func (h *host) pollOneoff(a []uint64) (uint64, error) {
	in, out, n := a[0], a[1], a[2]
	if n == 0 || n > 256 {
		return wasip1.ErrnoInval, nil
	}
	subs := h.region(in, 48*n)
	if subs == nil || h.region(out, 32*n) == nil {
		return wasip1.ErrnoFault, nil
	}
	subs = append([]byte(nil), subs...)
	type event struct {
		userdata uint64
		errno    uint16
		typ      uint8
		nbytes   uint64
	}
	var fdEvents, clockEvents []event
	minWait := ^uint64(0)
	for i := uint64(0); i < n; i++ {
		s := subs[48*i:]
		ud := binary.LittleEndian.Uint64(s)
		switch tag := s[8]; tag {
		case 0: // clock
			id := uint64(binary.LittleEndian.Uint32(s[16:]))
			timeout := binary.LittleEndian.Uint64(s[24:])
			abs := binary.LittleEndian.Uint16(s[40:])&1 != 0
			wait := timeout
			if abs {
				if now := h.now(id); timeout > now {
					wait = timeout - now
				} else {
					wait = 0
				}
			}
			if wait < minWait {
				minWait = wait
				clockEvents = clockEvents[:0]
			}
			if wait == minWait {
				clockEvents = append(clockEvents, event{userdata: ud, typ: 0})
			}
		case 1, 2: // fd_read, fd_write
			fd := binary.LittleEndian.Uint32(s[16:])
			e := event{userdata: ud, typ: tag}
			switch {
			case tag == 1 && fd == 0:
				e.nbytes = uint64(len(h.stdin))
			case tag == 2 && (fd == 1 || fd == 2):
			default:
				e.errno = wasip1.ErrnoBadf
			}
			fdEvents = append(fdEvents, e)
		default:
			return wasip1.ErrnoInval, nil
		}
	}
	events := fdEvents
	if len(events) == 0 {
		events = clockEvents
		h.slept += minWait
	}
	dst := h.region(out, 32*uint64(len(events)))
	for i, e := range events {
		b := dst[32*i : 32*i+32]
		clear(b)
		binary.LittleEndian.PutUint64(b, e.userdata)
		binary.LittleEndian.PutUint16(b[8:], e.errno)
		b[10] = e.typ
		binary.LittleEndian.PutUint64(b[16:], e.nbytes)
	}
	if !h.putU32(a[3], uint32(len(events))) {
		return wasip1.ErrnoFault, nil
	}
	return wasip1.ErrnoSuccess, nil
}

// randomGet fills the buffer from SHA-256(job id ‖ counter) blocks: the
// same bytes on every run of the same job.
func (h *host) randomGet(a []uint64) (uint64, error) {
	b := h.region(a[0], a[1])
	if b == nil {
		return wasip1.ErrnoFault, nil
	}
	if err := h.chargeBytes(len(b)); err != nil {
		return 0, err
	}
	for len(b) > 0 {
		if len(h.randBuf) == 0 {
			var blk [40]byte
			copy(blk[:], h.seed[:])
			binary.BigEndian.PutUint64(blk[32:], h.randCtr)
			h.randCtr++
			s := sha256.Sum256(blk[:])
			h.randBuf = s[:]
		}
		c := copy(b, h.randBuf)
		h.randBuf = h.randBuf[c:]
		b = b[c:]
	}
	return wasip1.ErrnoSuccess, nil
}

func (h *host) procExit(a []uint64) (uint64, error) {
	h.exited = true
	h.exitCode = uint32(a[0])
	return 0, errExit
}

// result classifies the end of a run from the host state and the
// instrumented globals, never from runtime error messages.
func (h *host) result(jobID Hash, callErr error, stackWeight uint32, maxStack uint32) *Result {
	r := &Result{Job: jobID, CostTable: instrument.CostTableVersion, FuelUsed: h.fuelUsed()}
	switch {
	case h.exited:
		r.Status, r.ExitCode = StatusExited, h.exitCode
	case h.fuelLeft() < 0:
		r.Status, r.Trap = StatusTrapped, TrapOutOfFuel
	case h.trap != "":
		r.Status, r.Trap = StatusTrapped, h.trap
	case callErr == nil:
		r.Status = StatusExited
	case stackWeight > maxStack:
		r.Status, r.Trap = StatusTrapped, TrapStack
	default:
		r.Status, r.Trap = StatusTrapped, TrapRuntime
	}
	r.Output = h.stdout
	if r.Output == nil {
		r.Output = []byte{}
	}
	r.Stderr = h.stderr
	if r.Stderr == nil {
		r.Stderr = []byte{}
	}
	r.OutputHash = Sum(r.Output)
	return r
}
