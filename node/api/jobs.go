package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/coop-network/coop/chain"
)

// MaxJobBody bounds a job submission's JSON body: a module and an input
// of up to 32 MiB each, base64-encoded.
const MaxJobBody = 96 << 20

// JobRequest submits a compute job: the module's bytes and, optionally,
// the input's (stored as coop files of the account, or inline on the
// ledger with InlineInput). Zero limits take the node's defaults.
type JobRequest struct {
	Module      []byte `json:"module"`
	Input       []byte `json:"input,omitempty"`
	InlineInput bool   `json:"inline_input,omitempty"`
	// InputID, instead of Input, is an existing coop file of the account
	// (its id) to run the job on.
	InputID string `json:"input_id,omitempty"`
	// ModuleID, instead of Module, is an existing coop file of the
	// account (its id) holding the module.
	ModuleID string `json:"module_id,omitempty"`
	Fuel     uint64 `json:"fuel,omitempty"`
	Memory   uint64 `json:"memory,omitempty"`
	Replicas uint32 `json:"replicas,omitempty"`
	Quorum   uint32 `json:"quorum,omitempty"`
	Price    uint64 `json:"price,omitempty"`
	// K, M and Copies are the redundancy of the module and input files
	// (as a put's; the node's defaults when zero).
	K      int `json:"k,omitempty"`
	M      int `json:"m,omitempty"`
	Copies int `json:"copies,omitempty"`
}

// JobSubmitted is a submission's answer: the job id.
type JobSubmitted struct {
	Job string `json:"job"`
}

// JobOutput is a job's accepted result as the submitter read it from a
// worker's output file.
type JobOutput struct {
	Job      string `json:"job"`
	Status   string `json:"status"`
	ExitCode uint32 `json:"exit_code"`
	Trap     string `json:"trap,omitempty"`
	FuelUsed uint64 `json:"fuel_used"`
	Output   []byte `json:"output"`
	Stderr   []byte `json:"stderr,omitempty"`
}

// Jobber is a Backend that runs compute jobs on the network.
type Jobber interface {
	// SubmitJobRequest submits a job.
	SubmitJobRequest(ctx context.Context, r *JobRequest) (*JobSubmitted, error)
	// JobStatus is a job's ledger record (ErrNotFound: no such job).
	JobStatus(ctx context.Context, id string) (*chain.JobView, error)
	// JobList lists the jobs the account submitted.
	JobList(ctx context.Context) ([]chain.JobView, error)
	// JobOutput reads one of the account's jobs' accepted result.
	JobOutput(ctx context.Context, id string) (*JobOutput, error)
}

func (s *Server) jobRoutes(mux *http.ServeMux) {
	jobber := func(w http.ResponseWriter) (Jobber, bool) {
		j, ok := s.backend.(Jobber)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this node runs no compute jobs"))
		}
		return j, ok
	}
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		j, ok := jobber(w)
		if !ok {
			return
		}
		var req JobRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJobBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.reply(w, nil, fmt.Errorf("%w: job request: %v", ErrInvalid, err))
			return
		}
		res, err := j.SubmitJobRequest(r.Context(), &req)
		s.reply(w, res, err)
	})
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		if j, ok := jobber(w); ok {
			v, err := j.JobList(r.Context())
			s.reply(w, v, err)
		}
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if j, ok := jobber(w); ok {
			v, err := j.JobStatus(r.Context(), r.PathValue("id"))
			s.reply(w, v, err)
		}
	})
	mux.HandleFunc("GET /v1/jobs/{id}/result", func(w http.ResponseWriter, r *http.Request) {
		if j, ok := jobber(w); ok {
			v, err := j.JobOutput(r.Context(), r.PathValue("id"))
			s.reply(w, v, err)
		}
	})
}

// SubmitJob submits a compute job.
func (c *Client) SubmitJob(ctx context.Context, r *JobRequest) (*JobSubmitted, error) {
	var out JobSubmitted
	return &out, c.getJSON(ctx, http.MethodPost, "/v1/jobs", r, &out)
}

// Job returns a job's ledger record.
func (c *Client) Job(ctx context.Context, id string) (*chain.JobView, error) {
	var out chain.JobView
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &out)
}

// Jobs lists the jobs the node's account submitted.
func (c *Client) Jobs(ctx context.Context) ([]chain.JobView, error) {
	var out []chain.JobView
	return out, c.getJSON(ctx, http.MethodGet, "/v1/jobs", nil, &out)
}

// JobResult reads one of the account's jobs' accepted result.
func (c *Client) JobResult(ctx context.Context, id string) (*JobOutput, error) {
	var out JobOutput
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/result", nil, &out)
}
