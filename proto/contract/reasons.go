package contract

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of the plugin's errors.
const ErrorDomain = "duo-plugin"

// Reason is the machine-readable cause of a failed call, carried in a
// google.rpc.ErrorInfo detail of the gRPC status.
type Reason string

// Reasons a call can fail for. Hosts branch on these, never on messages.
const (
	ReasonInactive          Reason = "PLUGIN_INACTIVE"       // the plugin is deactivated: activate it first
	ReasonActive            Reason = "PLUGIN_ACTIVE"         // uninstall while active: deactivate first
	ReasonConfirmation      Reason = "CONFIRMATION_MISMATCH" // uninstall confirmation does not name the plugin
	ReasonInvalidArgument   Reason = "INVALID_ARGUMENT"      // a request field is malformed
	ReasonSchemaTooNew      Reason = "SCHEMA_TOO_NEW"        // the database was written by a newer plugin
	ReasonDataDirMismatch   Reason = "DATA_DIR_MISMATCH"     // activate with another data dir while active
	ReasonStorage           Reason = "STORAGE"               // the database or key file failed
	ReasonInternal          Reason = "INTERNAL"              // a bug; details are in the plugin's log
	ReasonPluginUnavailable Reason = "PLUGIN_UNAVAILABLE"    // (host side) the plugin process is down
	ReasonDeadline          Reason = "DEADLINE_EXCEEDED"     // (host side) the call took too long
	ReasonUnknown           Reason = "UNKNOWN"               // an error without a reason
)

// Status builds a gRPC status error with code, message and reason.
func Status(code codes.Code, reason Reason, msg string) error {
	st := status.New(code, msg)
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: string(reason), Domain: ErrorDomain})
	if err != nil {
		return st.Err()
	}
	return withInfo.Err()
}

// ReasonOf returns the reason carried by a gRPC status error, or
// ReasonUnknown.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return ReasonUnknown
	}
	for _, d := range se.GRPCStatus().Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return Reason(info.GetReason())
		}
	}
	return ReasonUnknown
}
