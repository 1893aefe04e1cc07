package awsbatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/job"
)

// logGroup is the one log group: AWS Batch's default, where its jobs' streams are.
const logGroup = "/aws/batch/job"

// logChunk is how much of a log one call reads.
const logChunk = 1 << 20

// maxEvents caps the events of one answer (AWS's own cap).
const maxEvents = 10000

// maxFilterPattern is CloudWatch's bound on a filter pattern, in characters.
const maxFilterPattern = 1024

// serveLogs answers the CloudWatch Logs calls (JSON 1.1: POST / with X-Amz-Target)
// AWS Batch users read their jobs' output with: GetLogEvents and FilterLogEvents.
func (h *Handler) serveLogs(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Logs_20140328.")
	var fn func(context.Context, []byte) (any, error)
	switch {
	case !ok:
		h.fail(w, r, true, &apiError{status: http.StatusNotFound, typ: "UnknownOperationException",
			msg: fmt.Sprintf("no operation at %s %s without an X-Amz-Target of Logs_20140328; the AWS Batch operations are under /v1/", r.Method, r.URL.Path)})
		return
	case r.Method != http.MethodPost:
		h.fail(w, r, true, &apiError{status: http.StatusMethodNotAllowed, typ: "UnknownOperationException", msg: "CloudWatch Logs calls are POST"})
		return
	case op == "GetLogEvents":
		fn = h.getLogEvents
	case op == "FilterLogEvents":
		fn = h.filterLogEvents
	default:
		h.fail(w, r, true, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException",
			msg: fmt.Sprintf("%s is not one of the Logs operations this server answers (GetLogEvents, FilterLogEvents)", job.Truncate(op, 60))})
		return
	}
	body, tok, err := h.admit(w, r, auth.Viewer)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	out, err := fn(context.WithValue(r.Context(), tokenKey{}, tok), body)
	if err != nil {
		h.fail(w, r, true, err)
		return
	}
	h.write(w, http.StatusOK, "application/x-amz-json-1.1", out)
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, typ: "ResourceNotFoundException", msg: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, typ: "InvalidParameterException", msg: fmt.Sprintf(format, args...)}
}

// streamRun finds the run of a stream named DEFINITION/default/RUN.
func (h *Handler) streamRun(ctx context.Context, group, stream string) (job.Run, error) {
	if group != logGroup {
		return job.Run{}, notFound("The specified log group does not exist: %q; job logs are in %s", job.Truncate(group, 200), logGroup)
	}
	i := strings.LastIndex(stream, "/")
	run, err := h.opts.Store.RunGet(ctx, stream[i+1:])
	if errors.Is(err, job.ErrNotFound) || (err == nil && logStream(run) != stream) {
		return job.Run{}, notFound("The specified log stream does not exist: %q", job.Truncate(stream, 200))
	}
	return run, err
}

// logEvent is one line of a run's log.
type logEvent struct {
	offset  int64
	message string
}

// readLines reads whole lines of a run's log from offset, at most logChunk bytes and
// limit lines; the last line without a newline counts only once the run has ended. It
// returns the lines, the offset after them and whether more may follow them now.
func (h *Handler) readLines(ctx context.Context, run job.Run, offset int64, limit, size int) ([]logEvent, int64, bool, error) {
	data, err := h.opts.Store.LogRead(ctx, run.ID, offset, size)
	if err != nil {
		return nil, offset, false, err
	}
	full := len(data) == size
	var out []logEvent
	pos := offset
	for len(data) > 0 && len(out) < limit {
		line, rest, found := bytes.Cut(data, []byte("\n"))
		if !found && !(run.State.Terminal() && !full) {
			break
		}
		out = append(out, logEvent{offset: pos, message: string(line)})
		pos += int64(len(line))
		if found {
			pos++
		}
		data = rest
	}
	more := full || len(out) == limit && len(data) > 0
	return out, pos, more, nil
}

// times are the timestamp and ingestion time of a run's lines: Docket keeps a log, not
// a time per line, so each line has the time its run started.
func times(run job.Run) (int64, int64) {
	ts := run.CreatedAt.UnixMilli()
	if run.StartedAt != nil {
		ts = run.StartedAt.UnixMilli()
	}
	ingested := ts
	if run.FinishedAt != nil {
		ingested = run.FinishedAt.UnixMilli()
	}
	return ts, ingested
}

type getLogEventsRequest struct {
	LogGroupName  string `json:"logGroupName"`
	LogStreamName string `json:"logStreamName"`
	StartFromHead *bool  `json:"startFromHead"`
	NextToken     string `json:"nextToken"`
	Limit         *int   `json:"limit"`
}

// getLogEvents reads a run's log forward: from the head, from a token, or (without
// startFromHead) the last MiB. At the end the forward token is the one that came in.
func (h *Handler) getLogEvents(ctx context.Context, body []byte) (any, error) {
	var req getLogEventsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	limit := maxEvents
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > maxEvents {
			return nil, invalidParam("limit: %d is not from 1 to %d", *req.Limit, maxEvents)
		}
		limit = *req.Limit
	}
	run, err := h.streamRun(ctx, req.LogGroupName, req.LogStreamName)
	if err != nil {
		return nil, err
	}
	var offset int64
	backward := false
	switch {
	case req.NextToken != "":
		dir, n, ok := strings.Cut(req.NextToken, "/")
		v, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || v < 0 || (dir != "f" && dir != "b") {
			return nil, invalidParam("nextToken: %q is not a token this server gave", job.Truncate(req.NextToken, 100))
		}
		offset, backward = v, dir == "b"
	case req.StartFromHead == nil || !*req.StartFromHead:
		size, err := h.opts.Store.LogSize(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		offset = max(0, size-logChunk)
	}
	start := offset
	if backward {
		start = max(0, offset-logChunk)
	}
	if start > 0 {
		// Begin at a line's start.
		prev, err := h.opts.Store.LogRead(ctx, run.ID, start-1, logChunk)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(prev, '\n'); i >= 0 {
			start += int64(i)
		}
	}
	lines, end, _, err := h.readLines(ctx, run, start, limit, logChunk)
	if err != nil {
		return nil, err
	}
	if backward {
		kept := lines[:0]
		for _, l := range lines {
			if l.offset < offset {
				kept = append(kept, l)
			}
		}
		lines, end = kept, offset
	}
	ts, ingested := times(run)
	events := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		events = append(events, map[string]any{"timestamp": ts, "message": l.message, "ingestionTime": ingested})
	}
	return map[string]any{"events": events, "nextForwardToken": fmt.Sprintf("f/%d", end), "nextBackwardToken": fmt.Sprintf("b/%d", start)}, nil
}

type filterLogEventsRequest struct {
	LogGroupName   string   `json:"logGroupName"`
	LogStreamNames []string `json:"logStreamNames"`
	StartTime      *int64   `json:"startTime"`
	EndTime        *int64   `json:"endTime"`
	FilterPattern  string   `json:"filterPattern"`
	NextToken      string   `json:"nextToken"`
	Limit          *int     `json:"limit"`
}

// filterLogEvents reads the named streams in turn (aws logs tail --log-stream-names),
// keeping lines that hold the filter pattern's terms. The token is the stream's index and
// the offset in its log.
func (h *Handler) filterLogEvents(ctx context.Context, body []byte) (any, error) {
	var req filterLogEventsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.LogGroupName != logGroup {
		return nil, notFound("The specified log group does not exist: %q; job logs are in %s", job.Truncate(req.LogGroupName, 200), logGroup)
	}
	if len(req.LogStreamNames) == 0 || len(req.LogStreamNames) > 100 {
		return nil, invalidParam("logStreamNames: name 1 to 100 streams (aws logs tail %s --log-stream-names STREAM)", logGroup)
	}
	limit := maxEvents
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > maxEvents {
			return nil, invalidParam("limit: %d is not from 1 to %d", *req.Limit, maxEvents)
		}
		limit = *req.Limit
	}
	// CloudWatch takes patterns of at most 1,024 characters; each term is looked for in
	// every line read, so the bound is also what one call may cost.
	if n := utf8.RuneCountInString(req.FilterPattern); n > maxFilterPattern {
		return nil, invalidParam("filterPattern: %d characters; a pattern has at most %d", n, maxFilterPattern)
	}
	terms := strings.Fields(strings.ReplaceAll(req.FilterPattern, `"`, " "))
	stream, offset := 0, int64(0)
	if req.NextToken != "" {
		raw, ok := decodeCursor(req.NextToken)
		s, o, found := strings.Cut(raw, "/")
		si, err1 := strconv.Atoi(s)
		oi, err2 := strconv.ParseInt(o, 10, 64)
		if !ok || !found || err1 != nil || err2 != nil || si < 0 || si >= len(req.LogStreamNames) || oi < 0 {
			return nil, invalidParam("nextToken: %q is not a token this server gave", job.Truncate(req.NextToken, 100))
		}
		stream, offset = si, oi
	}
	events := []map[string]any{}
	searched := []map[string]any{}
	next := ""
	budget := logChunk // bytes read by one call, over all its streams
	for ; stream < len(req.LogStreamNames); stream, offset = stream+1, 0 {
		if budget <= 0 {
			next = tokenPrefix + encodeCursor(fmt.Sprintf("%d/%d", stream, 0))
			break
		}
		name := req.LogStreamNames[stream]
		run, err := h.streamRun(ctx, logGroup, name)
		if err != nil {
			return nil, err
		}
		ts, ingested := times(run)
		if req.StartTime != nil && ts < *req.StartTime || req.EndTime != nil && ts > *req.EndTime {
			searched = append(searched, map[string]any{"logStreamName": name, "searchedCompletely": true})
			continue
		}
		lines, end, more, err := h.readLines(ctx, run, offset, limit-len(events), budget)
		if err != nil {
			return nil, err
		}
		budget -= int(end - offset)
		for _, l := range lines {
			if !holdsAll(l.message, terms) {
				continue
			}
			events = append(events, map[string]any{"logStreamName": name, "timestamp": ts, "message": l.message,
				"ingestionTime": ingested, "eventId": fmt.Sprintf("%s-%d", run.ID, l.offset)})
		}
		searched = append(searched, map[string]any{"logStreamName": name, "searchedCompletely": !more})
		if more {
			next = tokenPrefix + encodeCursor(fmt.Sprintf("%d/%d", stream, end))
			break
		}
	}
	resp := map[string]any{"events": events, "searchedLogStreams": searched}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}

func holdsAll(s string, terms []string) bool {
	for _, t := range terms {
		if !strings.Contains(s, t) {
			return false
		}
	}
	return true
}
