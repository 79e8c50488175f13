package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// sender is a kmsg request sent with its typed answer (kmsg's RequestWith:
// *kmsg.CreateACLsRequest answers *kmsg.CreateACLsResponse).
type sender[R any] interface {
	RequestWith(context.Context, kmsg.Requestor) (R, error)
}

// send sends one request (the acl and token commands) on a new client and
// returns its answer; a failure to send it or to hear the answer is
// wrapped with what ("create acls: ..."), and one to make the client is
// returned as it is. The Kafka error codes in the answer are the caller's
// to read.
func send[R any](ctx context.Context, a *app, req sender[R], what string) (R, error) {
	var none R
	cl, err := a.client()
	if err != nil {
		return none, err
	}
	defer cl.Close()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return none, fmt.Errorf("%s: %w", what, err)
	}
	return resp, nil
}
