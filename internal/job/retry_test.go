package job

import "testing"

func TestShouldRetry(t *testing.T) {
	t.Parallel()
	code := func(n int) *int { return &n }
	rules := []RetryRule{
		{Reason: "DeadlineExceeded", Action: RetryActionExit},
		{ExitCode: "13*", Message: "exited*", Action: RetryActionRetry},
		{ExitCode: "1*", Action: RetryActionExit},
	}
	for _, tc := range []struct {
		code    *int
		reason  Reason
		message string
		want    bool
	}{
		{nil, ReasonDeadlineExceeded, "ran past its deadline", false},
		{code(137), ReasonExitCode, "exited with code 137", true},
		{code(137), ReasonExitCode, "killed", false}, // the second rule's message does not match; the third's code does
		{code(2), ReasonExitCode, "exited with code 2", true},
		{code(1), ReasonExitCode, "exited with code 1", false},
	} {
		if got := ShouldRetry(rules, tc.code, tc.reason, tc.message); got != tc.want {
			t.Errorf("ShouldRetry(%v, %s, %q) = %v; want %v", tc.code, tc.reason, tc.message, got, tc.want)
		}
	}
	if !ShouldRetry(nil, code(1), ReasonExitCode, "") {
		t.Error("no rules: not retried")
	}
}
