package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/coop-network/coop/node/audit"
)

// Auditor is a Backend that audits storage nodes (the daemon): POST
// /v1/audit with audit.Options as JSON answers an audit.Report. A backend
// that is not one answers 404, as for scrub.
type Auditor interface {
	// Audit reports on the node opts.Target names, or every node.
	Audit(ctx context.Context, opts audit.Options) (*audit.Report, error)
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	a, ok := s.backend.(Auditor)
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("this node does not audit"))
		return
	}
	var opts audit.Options
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil {
		s.reply(w, nil, fmt.Errorf("%w: audit options: %v", ErrInvalid, err))
		return
	}
	rep, err := a.Audit(r.Context(), opts)
	s.reply(w, rep, err)
}

// Audit asks the node for an audit of the node opts.Target names (an
// account address or peer id), or of every node when it is empty.
func (c *Client) Audit(ctx context.Context, opts audit.Options) (*audit.Report, error) {
	var out audit.Report
	if err := c.getJSON(ctx, http.MethodPost, "/v1/audit", opts, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
