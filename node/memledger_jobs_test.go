package node

import (
	"context"

	"github.com/coop-network/coop/chain"
)

func (c *memClient) Job(ctx context.Context, id chain.Hash) (chain.JobView, error) {
	var v chain.JobView
	return v, c.l.query(ctx, chain.QueryJob+id.String(), &v)
}

func (c *memClient) Jobs(ctx context.Context, submitter chain.Address) ([]chain.JobView, error) {
	return list[chain.JobView](ctx, c.l, chain.QueryJobs+submitter.String())
}

func (c *memClient) Assignments(ctx context.Context, worker chain.Address) ([]chain.JobView, error) {
	return list[chain.JobView](ctx, c.l, chain.QueryAssignments+worker.String())
}

func (c *memClient) Worker(ctx context.Context, a chain.Address) (chain.Worker, error) {
	var v chain.Worker
	return v, c.l.query(ctx, chain.QueryWorker+a.String(), &v)
}

var _ jobLedger = (*memClient)(nil)
