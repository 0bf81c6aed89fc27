package contract

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestReasonRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ""},
		{"with reason", Status(codes.FailedPrecondition, ReasonInactive, "inactive"), ReasonInactive},
		{"wrapped", fmt.Errorf("call: %w", Status(codes.InvalidArgument, ReasonConfirmation, "x")), ReasonConfirmation},
		{"plain status", status.Error(codes.Internal, "boom"), ReasonUnknown},
		{"not a status", errors.New("boom"), ReasonUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonOf(tc.err); got != tc.want {
				t.Fatalf("ReasonOf = %q, want %q", got, tc.want)
			}
		})
	}
	if got := status.Code(Status(codes.FailedPrecondition, ReasonInactive, "m")); got != codes.FailedPrecondition {
		t.Fatalf("code = %v", got)
	}
}
