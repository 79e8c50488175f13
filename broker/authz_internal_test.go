package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
)

// TestAuthzTableComplete: every API the broker serves has an entry in the
// authorization table, and every entry is served: adding an API without
// deciding what it checks fails here.
func TestAuthzTableComplete(t *testing.T) {
	served := map[int16]bool{}
	for _, r := range protocol.Implemented() {
		served[r.Key] = true
		rule, ok := authzRules[r.Key]
		if !ok {
			t.Errorf("%s (key %d) has no entry in authzRules", kmsg.NameForKey(r.Key), r.Key)
			continue
		}
		if rule.checks == "" {
			t.Errorf("%s: entry without its checks", kmsg.NameForKey(r.Key))
		}
		if (rule.checks == "none" || authzInHandler[r.Key]) != (rule.apply == nil) {
			t.Errorf("%s: checks %q but apply set=%v", kmsg.NameForKey(r.Key), rule.checks, rule.apply != nil)
		}
	}
	for k := range authzRules {
		if !served[k] {
			t.Errorf("authzRules has %s (key %d), which is not served", kmsg.NameForKey(k), k)
		}
	}
}
