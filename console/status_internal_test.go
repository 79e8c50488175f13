package console

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A broker's refusal of the request itself is the user's conflict or
// mistake (409, 404, 400), not a broken gateway (502).
func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("resetting g: %w", kerr.NonEmptyGroup), http.StatusConflict},
		{kerr.TopicAlreadyExists, http.StatusConflict},
		{kerr.GroupIDNotFound, http.StatusNotFound},
		{fmt.Errorf("create: %w", kerr.InvalidConfig), http.StatusBadRequest},
		{badRequest("no"), http.StatusBadRequest},
		{kerr.TopicAuthorizationFailed, http.StatusForbidden},
		{kerr.CoordinatorNotAvailable, http.StatusBadGateway},
		{errors.New("dial tcp: connection refused"), http.StatusBadGateway},
	} {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
