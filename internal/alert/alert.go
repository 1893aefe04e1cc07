// Package alert tells people when something did not run as it should: a run that failed
// for good, a scheduled slot that was skipped instead of run, and a job that has not
// succeeded within the window its definition expects (a dead man's switch). Alerts go to
// webhooks as generic JSON or as Slack-compatible messages.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"docket.dev/docket/internal/job"
)

// Kind says what an alert is about.
type Kind string

const (
	RunFailed   Kind = "run_failed"
	SlotSkipped Kind = "slot_skipped"
	NoSuccess   Kind = "no_success"
)

// Alert is one notification. Its JSON is the generic webhook's body.
type Alert struct {
	Kind    Kind       `json:"kind"`
	Job     string     `json:"job"`
	RunID   string     `json:"run_id,omitempty"`
	State   job.State  `json:"state,omitempty"`
	Reason  job.Reason `json:"reason,omitempty"`
	Message string     `json:"message"`
	Time    time.Time  `json:"time"`
}

// Text is the alert in one line, as a person reads it.
func (a Alert) Text() string {
	switch a.Kind {
	case RunFailed:
		return fmt.Sprintf("Docket: run %s of job %s failed (%s): %s", a.RunID, a.Job, a.Reason, a.Message)
	case SlotSkipped:
		return fmt.Sprintf("Docket: a slot of job %s did not run (%s): %s", a.Job, a.Reason, a.Message)
	}
	return fmt.Sprintf("Docket: job %s: %s", a.Job, a.Message)
}

// Format is how a webhook wants its body.
type Format string

const (
	// JSON posts the Alert as it is.
	JSON Format = "json"
	// Slack posts {"text": ...}, which Slack's and compatible incoming webhooks accept.
	Slack Format = "slack"
)

// Webhook is where alerts are posted. Its URL is a secret (whoever has a Slack webhook's
// URL may post to the channel): only String, which hides it, is logged.
type Webhook struct {
	URL    string
	Format Format
}

// String is the webhook as it may be logged: its URL's scheme and host only.
func (h Webhook) String() string {
	return Redact(h.URL)
}

// Redact is a webhook URL as it may be shown: its scheme and host, the rest (path, query,
// user) hidden.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a URL that does not parse, not shown)"
	}
	return u.Scheme + "://" + u.Host + "/(hidden)"
}

// Notifier posts alerts to webhooks in the background, retrying each a few times.
type Notifier struct {
	hooks  []Webhook
	logger *slog.Logger
	client *http.Client
	queue  chan Alert
	// retryWait is the first wait between attempts; it doubles.
	retryWait time.Duration
}

// NewNotifier returns a Notifier for hooks; Run delivers what it is given.
func NewNotifier(hooks []Webhook, logger *slog.Logger) *Notifier {
	return &Notifier{hooks: hooks, logger: logger, client: &http.Client{Timeout: 10 * time.Second},
		queue: make(chan Alert, 1024), retryWait: time.Second}
}

// Notify queues an alert. It never blocks; with the queue full the alert is logged and
// dropped.
func (n *Notifier) Notify(a Alert) {
	n.logger.Info("alert", "kind", a.Kind, "job", a.Job, "run_id", a.RunID, "message", a.Message)
	select {
	case n.queue <- a:
	default:
		n.logger.Error("alert queue full; alert dropped", "kind", a.Kind, "job", a.Job)
	}
}

// Run delivers queued alerts until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-n.queue:
			var wg sync.WaitGroup
			for _, h := range n.hooks {
				wg.Go(func() { n.deliver(ctx, h, a) })
			}
			wg.Wait()
		}
	}
}

// deliver posts a to h, up to three times.
func (n *Notifier) deliver(ctx context.Context, h Webhook, a Alert) {
	var body any = a
	if h.Format == Slack {
		body = map[string]string{"text": a.Text()}
	}
	data, err := json.Marshal(body)
	if err != nil {
		n.logger.Error("encode alert", "err", err)
		return
	}
	wait := n.retryWait
	for attempt := 1; ; attempt++ {
		err := n.post(ctx, h.URL, data)
		if err == nil {
			return
		}
		if attempt == 3 || ctx.Err() != nil {
			n.logger.Error("alert not delivered", "webhook", h.String(), "kind", a.Kind, "job", a.Job, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (n *Notifier) post(ctx context.Context, target string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("webhook URL %s does not parse", Redact(target))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	var ue *url.Error
	switch {
	case errors.As(err, &ue): // its text holds the whole URL
		return fmt.Errorf("%s %s: %w", ue.Op, Redact(ue.URL), ue.Err)
	case err != nil:
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// skippedAlerts are the reasons of skipped slots that are alerted: the slot should have run
// and did not. A suspended job's slots are skipped on purpose.
var skippedAlerts = map[job.Reason]bool{job.ReasonMissed: true, job.ReasonConcurrencyForbid: true, job.ReasonReplaced: true}

// RunEnded alerts on a run that failed for good: no retry is queued for it.
func (n *Notifier) RunEnded(r job.Run, retry *job.Run) {
	if r.State != job.StateFailed || retry != nil {
		return
	}
	at := time.Now().UTC()
	if r.FinishedAt != nil {
		at = *r.FinishedAt
	}
	n.Notify(Alert{Kind: RunFailed, Job: r.Job, RunID: r.ID, State: r.State, Reason: r.Reason, Message: r.Message, Time: at})
}

// SlotsRecorded alerts on scheduled slots recorded as skipped though they should have run,
// one alert per job and reason however many slots a pass skipped.
func (n *Notifier) SlotsRecorded(runs []job.Run) {
	type key struct {
		job    string
		reason job.Reason
	}
	var order []key
	skipped := map[key][]job.Run{}
	for _, r := range runs {
		if r.State != job.StateSkipped || !skippedAlerts[r.Reason] {
			continue
		}
		k := key{r.Job, r.Reason}
		if skipped[k] == nil {
			order = append(order, k)
		}
		skipped[k] = append(skipped[k], r)
	}
	for _, k := range order {
		rs := skipped[k]
		last := rs[len(rs)-1]
		msg := last.Message
		if len(rs) > 1 {
			msg = fmt.Sprintf("%d slots skipped; the last: %s", len(rs), last.Message)
		}
		a := Alert{Kind: SlotSkipped, Job: k.job, RunID: last.ID, State: last.State, Reason: k.reason, Message: msg, Time: time.Now().UTC()}
		if last.ScheduledTime != nil {
			a.Time = *last.ScheduledTime
		}
		n.Notify(a)
	}
}
