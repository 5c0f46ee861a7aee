package compute

import (
	"bytes"
	"errors"
	"testing"
)

func sampleSpec() JobSpec {
	return JobSpec{Module: Sum([]byte("m")), Input: []byte("in"), Args: []string{"a", "b"},
		FuelLimit: 1000, MemoryLimit: 1 << 20, MaxOutput: 100, Replicas: 3}
}

func sampleResult() *Result {
	out := []byte("output")
	return &Result{Job: Sum([]byte("job")), CostTable: 1, Status: StatusExited, ExitCode: 0,
		FuelUsed: 42, OutputHash: Sum(out), Output: out, Stderr: []byte{}}
}

func TestResultEncodingRoundTripsAndIsCanonical(t *testing.T) {
	r := sampleResult()
	b := r.Encode()
	got, err := DecodeResult(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != r.Hash() || !bytes.Equal(got.Encode(), b) {
		t.Fatal("round trip changed the result")
	}
	if r.Commitment([]byte("salt1")) == r.Commitment([]byte("salt2")) {
		t.Fatal("commitment ignores the salt")
	}
	nilOut := *r
	nilOut.Stderr = nil
	if nilOut.Hash() != r.Hash() {
		t.Fatal("nil and empty stderr encode differently")
	}
}

func TestDecodeResultRejectsInconsistentResults(t *testing.T) {
	bad := sampleResult()
	bad.Output = []byte("other")
	if _, err := DecodeResult(bad.Encode(), 1<<20); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("output hash mismatch: got %v", err)
	}
	if _, err := DecodeResult(sampleResult().Encode(), 3); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("output over the cap: got %v", err)
	}
	if _, err := DecodeResult([]byte{0xa0}, 10); !errors.Is(err, ErrBadEncoding) {
		t.Fatalf("non-canonical empty map: got %v", err)
	}
}

func TestJobSpecValidation(t *testing.T) {
	s := sampleSpec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := encMode.Marshal(&s)
	got, err := DecodeJobSpec(b)
	if err != nil || got.ID() != s.ID() {
		t.Fatalf("round trip: %v", err)
	}
	for name, mut := range map[string]func(*JobSpec){
		"no module":                  func(s *JobSpec) { s.Module = Hash{} },
		"both input id and input":    func(s *JobSpec) { s.InputID = Sum(nil) },
		"zero fuel":                  func(s *JobSpec) { s.FuelLimit = 0 },
		"memory not a page multiple": func(s *JobSpec) { s.MemoryLimit = 1000 },
		"zero replicas":              func(s *JobSpec) { s.Replicas = 0 },
		"NUL in an argument":         func(s *JobSpec) { s.Args = []string{"a\x00b"} },
	} {
		s := sampleSpec()
		mut(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	other := sampleSpec()
	other.Args = []string{"a"}
	if other.ID() == s.ID() {
		t.Fatal("job id ignores the args")
	}
}

func TestParseHashIsStrict(t *testing.T) {
	h := Sum([]byte("x"))
	if got, err := ParseHash(h.String()); err != nil || got != h {
		t.Fatalf("round trip: %v", err)
	}
	for _, s := range []string{"", h.String()[:63], h.String() + "0", "G" + h.String()[1:], "A" + h.String()[1:]} {
		if _, err := ParseHash(s); !errors.Is(err, ErrBadHash) {
			t.Errorf("ParseHash(%q) = %v", s, err)
		}
	}
}

func FuzzDecodeResult(f *testing.F) {
	f.Add(sampleResult().Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b, 1<<16)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

func FuzzDecodeJobSpec(f *testing.F) {
	s := sampleSpec()
	b, _ := encMode.Marshal(&s)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeJobSpec(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid spec: %v", err)
		}
		if e, _ := encMode.Marshal(s); !bytes.Equal(e, b) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}
