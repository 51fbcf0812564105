package auditexport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
)

// Line is one exported event as a JSON line: the audit log's fields ("time", "level", "msg" and
// the event's), plus the stream, so that (stream, id) identifies it. Empty fields are left out.
type Line struct {
	Time           string `json:"time"`
	Level          string `json:"level"`
	Msg            string `json:"msg"`
	Stream         string `json:"stream"`
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	ClientID       string `json:"client_id,omitempty"`
	AgentID        string `json:"agent_id,omitempty"`
	VerificationID string `json:"verification_id,omitempty"`
	Method         string `json:"method,omitempty"`
	Outcome        string `json:"outcome,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Identity       string `json:"identity,omitempty"`
	Customer       string `json:"customer,omitempty"`
	Destination    string `json:"destination,omitempty"`
	// Trimmed is audit.Event.Trimmed: entries lost before this one.
	Trimmed int `json:"trimmed_unexported,omitempty"`
}

// lineOf is r as a Line.
func lineOf(r Record) Line {
	return Line{
		Time: r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Level: "INFO", Msg: "audit",
		Stream: r.Stream, ID: r.ID, Kind: r.Kind, ClientID: r.ClientID, AgentID: r.AgentID,
		VerificationID: r.VerificationID, Method: r.Method, Outcome: r.Outcome, Reason: r.Reason,
		Identity: r.Identity, Customer: r.Customer, Destination: r.Destination, Trimmed: r.Trimmed,
	}
}

// encode renders records as JSON lines, in order.
func encode(records []Record) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range records {
		if err := enc.Encode(lineOf(r)); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// Stream is a Sink writing JSON lines to a stream such as standard output, for a log pipeline
// (Vector, Fluent Bit, Promtail/Loki) that collects the container's output. A batch is one write;
// a write that returned is what "durable" means here (the pipeline's own buffering takes over).
// At least once: a redelivered event is written again.
type Stream struct {
	mu sync.Mutex
	w  io.Writer
}

// NewStream returns a Sink writing to w.
func NewStream(w io.Writer) *Stream { return &Stream{w: w} }

// Write writes records as JSON lines in one write.
func (s *Stream) Write(_ context.Context, records []Record) error {
	b, err := encode(records)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.w.Write(b)
	return err
}

// File is a Sink appending JSON lines to a file, created with mode 0600. Every batch is written
// and fsynced before Write returns, so an acknowledged event is on disk. The file is opened on
// the first Write and again after a failure (a full disk, a removed directory), so a bad path
// fails exports, not the service. At least once: a redelivered event is appended again; readers
// de-duplicate by (stream, id). Rotate it by copy and truncate, or by renaming it and restarting.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// NewFile returns a Sink appending to path.
func NewFile(path string) *File { return &File{path: path} }

// Write appends records as JSON lines and fsyncs the file.
func (s *File) Write(_ context.Context, records []Record) error {
	b, err := encode(records)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		s.f = f
	}
	if _, err := s.f.Write(b); err != nil {
		return errors.Join(err, s.reset())
	}
	if err := s.f.Sync(); err != nil {
		return errors.Join(err, s.reset())
	}
	return nil
}

// reset closes the file so that the next Write opens it again.
func (s *File) reset() error {
	err := s.f.Close()
	s.f = nil
	return err
}

// Close closes the file.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	return s.reset()
}
