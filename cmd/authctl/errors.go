package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// describeError renders an RPC error for a person: the gRPC code and message,
// then each google.rpc detail on its own line (field violations as
// "field: description", the retry delay, the error reason and metadata).
func describeError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) {
			return "interrupted"
		}
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s", codeName(st.Code()))
	if msg := st.Message(); msg != "" {
		fmt.Fprintf(&b, ": %s", msg)
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fmt.Fprintf(&b, "\n  %s: %s", v.GetField(), v.GetDescription())
				if r := v.GetReason(); r != "" {
					fmt.Fprintf(&b, " (%s)", r)
				}
			}
		case *errdetails.RetryInfo:
			if rd := d.GetRetryDelay(); rd != nil {
				fmt.Fprintf(&b, "\n  retry after %s", rd.AsDuration())
			}
		case *errdetails.ErrorInfo:
			fmt.Fprintf(&b, "\n  reason: %s", d.GetReason())
			if dom := d.GetDomain(); dom != "" {
				fmt.Fprintf(&b, " (%s)", dom)
			}
			keys := make([]string, 0, len(d.GetMetadata()))
			for k := range d.GetMetadata() {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "\n  %s: %s", k, d.GetMetadata()[k])
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				fmt.Fprintf(&b, "\n  precondition %s %s: %s", v.GetType(), v.GetSubject(), v.GetDescription())
			}
		case *errdetails.QuotaFailure:
			for _, v := range d.GetViolations() {
				fmt.Fprintf(&b, "\n  quota %s: %s", v.GetSubject(), v.GetDescription())
			}
		case *errdetails.ResourceInfo:
			fmt.Fprintf(&b, "\n  resource %s %s", d.GetResourceType(), d.GetResourceName())
		case *errdetails.LocalizedMessage:
			fmt.Fprintf(&b, "\n  %s", d.GetMessage())
		case *errdetails.Help:
			for _, l := range d.GetLinks() {
				fmt.Fprintf(&b, "\n  see %s (%s)", l.GetUrl(), l.GetDescription())
			}
		case *errdetails.RequestInfo:
			fmt.Fprintf(&b, "\n  request id: %s", d.GetRequestId())
		case error:
			// A detail whose type is not linked in: grpc returns the decode error.
			fmt.Fprintf(&b, "\n  (undecodable detail: %v)", d)
		default:
			fmt.Fprintf(&b, "\n  %T", d)
		}
	}
	return b.String()
}

// codeName is the canonical upper-case name of a gRPC code, e.g. INVALID_ARGUMENT.
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	default:
		return c.String()
	}
}

// rpcFailure prints err to stderr, prefixed with the operation, and returns exitFailure.
func rpcFailure(w io.Writer, op string, err error) int {
	fmt.Fprintf(w, "authctl: %s: %s\n", op, describeError(err))
	return exitFailure
}
