package job

import (
	"strconv"
	"strings"
)

// RetryAction is what a matching retry rule does with a failed attempt.
type RetryAction string

// The retry actions.
const (
	// RetryActionRetry retries the attempt (while attempts are left).
	RetryActionRetry RetryAction = "retry"
	// RetryActionExit ends the run with the attempt's failure.
	RetryActionExit RetryAction = "exit"
)

// MaxRetryRules caps a definition's retry rules (AWS Batch's evaluateOnExit allows 5).
const MaxRetryRules = 5

// RetryRule says whether a failed attempt is retried, by how it failed: every condition
// given must match (a pattern matches the whole value, or its beginning when it ends in
// *). AWS Batch's evaluateOnExit entries are retry rules.
type RetryRule struct {
	// ExitCode matches the exit code in decimal ("137", "1*").
	ExitCode string `json:"exit_code,omitempty"`
	// Reason matches the failure's reason (ExitCode, DeadlineExceeded, ...).
	Reason string `json:"reason,omitempty"`
	// Message matches the failure's sentence.
	Message string      `json:"message,omitempty"`
	Action  RetryAction `json:"action"`
}

// Matches reports whether the rule's conditions all match a failure.
func (r RetryRule) Matches(exitCode *int, reason Reason, message string) bool {
	code := ""
	if exitCode != nil {
		code = strconv.Itoa(*exitCode)
	}
	return globMatch(r.ExitCode, code) && globMatch(r.Reason, string(reason)) && globMatch(r.Message, message)
}

// ShouldRetry applies retry rules to a failure: the first rule that matches decides; when
// none does (or there are none) the failure is retried, as AWS Batch does.
func ShouldRetry(rules []RetryRule, exitCode *int, reason Reason, message string) bool {
	for _, r := range rules {
		if r.Matches(exitCode, reason, message) {
			return r.Action != RetryActionExit
		}
	}
	return true
}

// globMatch matches value against a pattern that may end in *; "" matches anything.
func globMatch(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(value, prefix)
	}
	return pattern == value
}
