package compute

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// request is what the parent sends the child on its stdin.
type request struct {
	Spec   JobSpec `cbor:"spec"`
	Module []byte  `cbor:"module"`
	Input  []byte  `cbor:"input"`
}

// response is what the child writes on its stdout.
type response struct {
	Result *Result    `cbor:"result"`
	Stats  *execStats `cbor:"stats"`
	Error  string     `cbor:"error"`
}

// maxRequest bounds what a child reads: module, input and spec.
const maxRequest = 64<<20 + 256<<20 + 2<<20

// ServeChild is the body of the child process: it reads the hello from
// in, sets up the runtime and loads the module the hello names from the
// cache, writes the ready byte to out, then reads one job from in, runs it
// and writes the outcome to out. cmd/coop calls it from its hidden
// subcommand; tests call it from TestMain. The process should exit after
// it returns: a job leaves the runtime in no state worth reusing. If out
// is an io.Closer, ServeChild closes it after the response.
func ServeChild(ctx context.Context, in io.Reader, out io.Writer) error {
	var hdr [4]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		return fmt.Errorf("compute child: reading the hello: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxHello {
		return fmt.Errorf("compute child: hello of %d bytes", n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(in, hb); err != nil {
		return fmt.Errorf("compute child: reading the hello: %w", err)
	}
	var h hello
	if err := decMode.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("compute child: decoding the hello: %w", err)
	}
	e := newEngine(h.CacheDir)
	e.keep = true // the process exits after the job
	if !h.Module.IsZero() {
		e.preload(h.Module, h.MemoryLimit)
	}
	ready := byte(readyByte)
	if e.pre != nil {
		ready = preloadedByte
	}
	if _, err := out.Write([]byte{ready}); err != nil {
		return err
	}

	b, err := io.ReadAll(io.LimitReader(in, maxRequest+1))
	if err != nil {
		return fmt.Errorf("compute child: reading the job: %w", err)
	}
	if len(b) > maxRequest {
		return fmt.Errorf("compute child: job of more than %d bytes", maxRequest)
	}
	var req request
	if err := decMode.Unmarshal(b, &req); err != nil {
		return fmt.Errorf("compute child: decoding the job: %w", err)
	}
	resp := response{}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The parent omits the module when this child said it has it ready;
	// the prepared instance then comes from the cache entry of exactly
	// this module hash and memory limit.
	omitted := len(req.Module) == 0 && e.pre != nil && e.pre.key == cacheKey(req.Spec.Module, instrumentConfig(&req.Spec))
	if err := checkJob(&req.Spec, req.Module, req.Input, omitted); err != nil {
		resp.Error = err.Error()
	} else {
		input := req.Input
		if req.Spec.InputID.IsZero() {
			input = req.Spec.Input
		}
		res, st, err := e.run(&req.Spec, req.Module, input)
		resp.Result, resp.Stats = res, st
		if err != nil {
			resp.Error = err.Error()
		}
	}
	enc, err := encMode.Marshal(&resp)
	if err != nil {
		return fmt.Errorf("compute child: encoding the result: %w", err)
	}
	if _, err = out.Write(enc); err != nil {
		return err
	}
	if c, ok := out.(io.Closer); ok {
		// The parent takes the response at EOF, without waiting for this
		// process to exit.
		return c.Close()
	}
	return nil
}

// checkJob verifies the spec and that module (unless omitted) and input
// match its hashes.
func checkJob(spec *JobSpec, module, input []byte, omitted bool) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if !omitted && Sum(module) != spec.Module {
		return fmt.Errorf("%w: module bytes hash to %s, spec says %s", ErrMismatch, Sum(module), spec.Module)
	}
	if !spec.InputID.IsZero() && Sum(input) != spec.InputID {
		return fmt.Errorf("%w: input bytes hash to %s, spec says %s", ErrMismatch, Sum(input), spec.InputID)
	}
	return nil
}
